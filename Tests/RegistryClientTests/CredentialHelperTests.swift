import Foundation
import Glibc
import RegistryClient
import Testing
import TestSupport

/// A folder with `docker-credential-*` programs (shell scripts written by the test) and the state they keep.
final class HelperBench: @unchecked Sendable {
    let root: String
    var bin: String { root + "/bin" }
    var home: String { root + "/home" }
    var authFile: String { home + "/.docker/config.json" }
    /// The environment a client or a child swcopy gets: only this bench's programs on the search path.
    var environment: [String: String] { ["PATH": bin + ":/usr/bin:/bin", "HOME": home] }

    init() throws {
        root = makeTemporaryDirectory(prefix: "swr-credhelper")
        _ = mkdirTree(bin)
        _ = mkdirTree(home + "/.docker")
    }

    deinit { removeTree(root) }

    /// Installs `docker-credential-<name>`: a store that keeps each server's JSON in a file of its own under
    /// `state-<name>/`, logs each action to `state-<name>/calls`, and answers "not found" as the real helpers do
    /// (on standard output, exit status 1).
    func installStore(_ name: String) throws {
        let state = root + "/state-" + name
        _ = mkdirTree(state)
        try install(name, """
            state='\(state)'
            echo "$1" >> "$state/calls"
            key() { printf '%s' "$1" | tr -c 'A-Za-z0-9.' '_'; }
            case "$1" in
            get)
                f="$state/$(key "$(cat)")"
                if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
            store)
                json=$(cat)
                url=$(printf '%s' "$json" | sed -n 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/p')
                printf '%s' "$json" > "$state/$(key "$url")" ;;
            erase)
                f="$state/$(key "$(cat)")"
                if [ -f "$f" ]; then rm "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
            *) echo "unknown action $1" >&2; exit 2 ;;
            esac
            """)
    }

    /// Puts credentials for `server` into helper `name`'s store.
    func seed(_ name: String, server: String, username: String, secret: String) throws {
        let key = String(server.map { $0.isLetter || $0.isNumber || $0 == "." ? $0 : "_" })
        try writeFile(root + "/state-\(name)/" + key,
                      Array(#"{"ServerURL":"\#(server)","Username":"\#(username)","Secret":"\#(secret)"}"#.utf8))
    }

    /// The actions helper `name` was run with, in order.
    func calls(_ name: String) -> [String] {
        guard let bytes = readFile(root + "/state-\(name)/calls") else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// What helper `name` holds for `server` (the JSON it was given by `store`).
    func stored(_ name: String, server: String) -> String? {
        let key = String(server.map { $0.isLetter || $0.isNumber || $0 == "." ? $0 : "_" })
        return readFile(root + "/state-\(name)/" + key).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Installs `docker-credential-<name>` running `body` under `/bin/sh`.
    func install(_ name: String, _ body: String) throws {
        let path = bin + "/docker-credential-" + name
        try writeFile(path, Array("#!/bin/sh\n\(body)\n".utf8), mode: 0o755)
    }

    func writeAuthFile(_ json: String) throws { try writeFile(authFile, Array(json.utf8), mode: 0o600) }

    func helper(_ name: String) -> CredentialHelper { CredentialHelper(name: name, environment: environment) }
}

@Suite struct CredentialHelperTests {
    @Test func storeGetAndEraseSpeakTheHelperProtocol() throws {
        let bench = try HelperBench()
        try bench.installStore("test")
        let helper = bench.helper("test")
        #expect(try helper.get(serverURL: "reg.test:5000") == nil, "nothing stored yet: not found is no credentials")
        try helper.store(serverURL: "reg.test:5000", credentials: Credentials(username: "alice", password: "pa:ss\"w"))
        #expect(bench.stored("test", server: "reg.test:5000")
            == #"{"Secret":"pa:ss\"w","ServerURL":"reg.test:5000","Username":"alice"}"#)
        #expect(try helper.get(serverURL: "reg.test:5000") == Credentials(username: "alice", password: "pa:ss\"w"))
        #expect(try helper.erase(serverURL: "reg.test:5000"))
        #expect(try helper.get(serverURL: "reg.test:5000") == nil)
        #expect(try helper.erase(serverURL: "reg.test:5000") == false)
        #expect(bench.calls("test") == ["get", "store", "get", "erase", "get", "erase"])
    }

    @Test func anIdentityTokenIsRecognized() throws {
        let bench = try HelperBench()
        try bench.installStore("test")
        try bench.seed("test", server: "reg.test", username: "<token>", secret: "refresh-1")
        let found = try bench.helper("test").get(serverURL: "reg.test")
        #expect(found?.identityToken == "refresh-1")
    }

    @Test func aMissingHelperIsNamed() throws {
        let bench = try HelperBench()
        let failure = #expect(throws: CredentialHelperError.self) { _ = try bench.helper("absent").get(serverURL: "x") }
        #expect(failure?.program == "docker-credential-absent")
        #expect(failure?.description.contains("not found on the search path \(bench.bin):") == true, "\(failure?.description ?? "")")
        #expect(failure?.description.contains("\n") == false)
        // A name that would leave the search path is refused, not looked up.
        #expect(throws: CredentialHelperError.self) { _ = try bench.helper("../bin/docker-credential-x").get(serverURL: "x") }
    }

    @Test func aFailingHelperReportsItsMessageOnOneLine() throws {
        let bench = try HelperBench()
        try bench.install("broken", "echo 'keychain locked' >&2\necho 'second line' >&2\nexit 3")
        try bench.install("garbage", "echo 'not json'")
        try bench.install("killed", "kill -9 $$")
        let broken = #expect(throws: CredentialHelperError.self) { _ = try bench.helper("broken").get(serverURL: "x") }
        #expect(broken?.description == "credential helper docker-credential-broken: get failed (exit status 3): keychain locked second line")
        let garbage = #expect(throws: CredentialHelperError.self) { _ = try bench.helper("garbage").get(serverURL: "x") }
        #expect(garbage?.description.contains("not the JSON") == true)
        let killed = #expect(throws: CredentialHelperError.self) { _ = try bench.helper("killed").get(serverURL: "x") }
        #expect(killed?.description.contains("killed by signal 9") == true, "\(killed?.description ?? "")")
        // store and erase fail the same way.
        #expect(throws: CredentialHelperError.self) {
            try bench.helper("broken").store(serverURL: "x", credentials: Credentials(username: "u", password: "p"))
        }
        #expect(throws: CredentialHelperError.self) { _ = try bench.helper("broken").erase(serverURL: "x") }
    }

    @Test func aHelperThatHangsIsKilledAtTheTimeout() throws {
        let bench = try HelperBench()
        try bench.install("slow", "exec sleep 30")
        var helper = bench.helper("slow")
        helper.timeout = .milliseconds(500)
        let started = ContinuousClock.now
        let failure = #expect(throws: CredentialHelperError.self) { _ = try helper.get(serverURL: "x") }
        #expect(failure?.description.contains("no answer within") == true, "\(failure?.description ?? "")")
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func lookupOrderIsCredHelpersThenAuthsThenCredsStore() throws {
        let bench = try HelperBench()
        try bench.installStore("per-host")
        try bench.installStore("default")
        let fileAuth = Data("fileuser:filepass".utf8).base64EncodedString()
        try bench.writeAuthFile("""
            {"auths": {"a.test": {"auth": "\(fileAuth)"}, "b.test": {"auth": "\(fileAuth)"}, "d.test": {"auth": "\(fileAuth)"},
                       "placeholder.test": {}},
             "credHelpers": {"a.test": "per-host", "d.test": "per-host"},
             "credsStore": "default"}
            """)
        try bench.seed("per-host", server: "a.test", username: "helperuser", secret: "h")
        try bench.seed("default", server: "c.test", username: "storeuser", secret: "s")
        try bench.seed("default", server: "placeholder.test", username: "storeuser", secret: "s2")
        try bench.seed("default", server: "https://index.docker.io/v1/", username: "hubuser", secret: "s3")
        func user(_ registry: String) throws -> String? {
            try AuthFile.lookup(registry: registry, authFile: nil, environment: bench.environment)?.username
        }
        #expect(try user("a.test") == "helperuser", "credHelpers first")
        #expect(try user("d.test") == "fileuser", "the host's helper has nothing: auths next")
        #expect(try user("b.test") == "fileuser")
        #expect(bench.calls("default").isEmpty, "credsStore is not asked when auths has an entry")
        #expect(try user("c.test") == "storeuser", "credsStore last")
        #expect(try user("placeholder.test") == "storeuser", "docker's empty auths entry defers to credsStore")
        #expect(try user("docker.io") == "hubuser", "Docker Hub under docker's server URL")
        #expect(try user("e.test") == nil, "not found anywhere: anonymous")
        #expect(bench.calls("per-host") == ["get", "get"])
    }

    @Test func explicitCredentialsWinAndHelpersRunOnlyWhenTheRegistryAsks() async throws {
        let gate = try await AuthGate(mode: .basic)
        defer { gate.rig.stop() }
        let bench = try HelperBench()
        try bench.installStore("test")
        try bench.writeAuthFile(#"{"credHelpers": {"\#(gate.rig.proxy.address)": "test"}}"#)
        try bench.seed("test", server: gate.rig.proxy.address, username: AuthGate.user, secret: "wrong")
        let explicit = gate.rig.client {
            $0.environment = bench.environment
            $0.credentials = Credentials(username: AuthGate.user, password: AuthGate.password)
        }
        try await explicit.ping()
        #expect(bench.calls("test").isEmpty)

        // From the helper (once per client, however many requests).
        try bench.seed("test", server: gate.rig.proxy.address, username: AuthGate.user, secret: AuthGate.password)
        let client = gate.rig.client { $0.environment = bench.environment }
        try await client.ping()
        _ = try await client.blobExists(repository: gate.rig.repository, digest: gate.rig.descriptor.digest)
        #expect(bench.calls("test") == ["get"])

        // A registry that asks for nothing never runs the helper, even a broken one.
        try bench.install("broken", "exit 3")
        try bench.writeAuthFile(#"{"credsStore": "broken"}"#)
        let open = RegistryClient(registry: gate.rig.registry.address, options: testOptions { $0.environment = bench.environment },
                                  engine: gate.rig.engine)
        try await open.ping()
        // One that does gets the helper's failure, naming it.
        let failing = gate.rig.client { $0.environment = bench.environment }
        let failure = await #expect(throws: RegistryClientError.self) { try await failing.ping() }
        #expect(failure?.kind == .local)
        #expect(failure?.description.contains("docker-credential-broken") == true, "\(failure?.description ?? "")")
    }

    @Test func anIdentityTokenIsExchangedWithTheRefreshTokenGrant() async throws {
        let gate = try await AuthGate(mode: .bearer)
        defer { gate.rig.stop() }
        let bench = try HelperBench()
        try bench.installStore("test")
        try bench.writeAuthFile(#"{"credsStore": "test"}"#)
        try bench.seed("test", server: gate.rig.proxy.address, username: "<token>", secret: AuthGate.refreshToken)
        let client = gate.rig.client { $0.environment = bench.environment }
        #expect(try await client.blobExists(repository: gate.rig.repository, digest: gate.rig.descriptor.digest) != nil)
        let request = try #require(gate.tokenRequests.last)
        #expect(request.authorization == nil, "a refresh token is not sent as Basic credentials")
        let fields = Set(request.query.split(separator: "&").map(String.init))
        #expect(fields.isSuperset(of: ["grant_type=refresh_token", "refresh_token=\(AuthGate.refreshToken)",
                                       "service=gate.test", "scope=repository%3Afault%2Fapp%3Apull"]), "\(fields)")

        // A revoked refresh token: an authentication error that says so.
        try bench.seed("test", server: gate.rig.proxy.address, username: "<token>", secret: "revoked")
        let revoked = gate.rig.client { $0.environment = bench.environment }
        let failure = await #expect(throws: RegistryClientError.self) { try await revoked.ping() }
        #expect(failure?.kind == .authentication)
        #expect(failure?.description.contains("identity token") == true, "\(failure?.description ?? "")")
    }

    @Test func loginStoresThroughTheHelperAndLogoutErases() async throws {
        let gate = try await AuthGate(mode: .basic)
        defer { gate.rig.stop() }
        let bench = try HelperBench()
        try bench.installStore("test")
        let registry = gate.rig.proxy.address
        let stale = Data("old:old".utf8).base64EncodedString()
        try bench.writeAuthFile(#"{"auths": {"\#(registry)": {"auth": "\#(stale)"}}, "credsStore": "test"}"#)
        let options = testOptions { $0.environment = bench.environment }

        // Refused credentials are stored nowhere.
        await #expect(throws: RegistryClientError.self) {
            try await AuthFile.login(registry: registry, credentials: Credentials(username: AuthGate.user, password: "nope"),
                                     options: options, engine: gate.rig.engine)
        }
        #expect(!bench.calls("test").contains("store"))
        #expect(try AuthFile(path: bench.authFile).credentials(for: registry)?.username == "old")

        let destination = try await AuthFile.login(
            registry: registry, credentials: Credentials(username: AuthGate.user, password: AuthGate.password),
            options: options, engine: gate.rig.engine)
        #expect(destination == .helper(program: "docker-credential-test", configuredIn: bench.authFile))
        #expect(bench.stored("test", server: registry)?.contains(#""Secret":"\#(AuthGate.password)""#) == true)
        // The stale auths entry (found before credsStore) is gone; the file stays private.
        #expect(try AuthFile(path: bench.authFile).credentials(for: registry) == nil)
        #expect(fileMode(bench.authFile) == 0o600)
        #expect(try AuthFile.lookup(registry: registry, authFile: nil, environment: bench.environment)?.password
            == AuthGate.password)

        #expect(try AuthFile.logout(registry: registry, environment: bench.environment))
        #expect(bench.stored("test", server: registry) == nil)
        #expect(try AuthFile.logout(registry: registry, environment: bench.environment) == false)
        #expect(Array(bench.calls("test").suffix(2)) == ["erase", "erase"])
    }

    @Test func loginWithoutHelperWritesThePrivateFileAndRefusesWrongPasswords() async throws {
        for mode in [AuthGate.Mode.basic, .bearer] {
            let gate = try await AuthGate(mode: mode)
            defer { gate.rig.stop() }
            let bench = try HelperBench()
            let registry = gate.rig.proxy.address
            let options = testOptions { $0.environment = bench.environment }
            let refused = await #expect(throws: RegistryClientError.self) {
                try await AuthFile.login(registry: registry, credentials: Credentials(username: AuthGate.user, password: "nope"),
                                         options: options, engine: gate.rig.engine)
            }
            #expect(refused?.kind == .authentication)
            #expect(!fileExists(bench.authFile), "\(mode): nothing written")
            #expect(try await AuthFile.login(
                registry: registry, credentials: Credentials(username: AuthGate.user, password: AuthGate.password),
                options: options, engine: gate.rig.engine) == .file(bench.authFile))
            #expect(fileMode(bench.authFile) == 0o600)
            #expect(try AuthFile(path: bench.authFile).credentials(for: registry)?.password == AuthGate.password)
            #expect(try AuthFile.logout(registry: registry, environment: bench.environment))
            #expect(try AuthFile(path: bench.authFile).credentials(for: registry) == nil)
        }
    }
}
