import Foundation
import Glibc
import RegistryClient
import Testing
import TestSupport

/// The `swcopy` executable's TLS and credential options, and login/logout, run as a user runs them: a child process
/// with its own environment (only the test's helpers on `PATH`, a scratch `HOME`).
@Suite struct SwcopyAccessOptionsTests {
    static var swcopy: String { ChildProcess.productsDirectory + "/swcopy" }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs swcopy with exactly `environment` (nothing inherited) and `input` on its standard input.
    static func run(_ arguments: [String], environment: [String: String], input: String = "") throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: swcopy)
        process.arguments = arguments
        process.environment = environment
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                   stderr: String(decoding: err, as: UTF8.self))
    }

    static let singleSided = ["inspect", "list-tags", "delete", "prepare", "login", "logout"]
    static let twoSided = ["copy", "sync", "append"]

    @Test(arguments: singleSided)
    func oneRegistryCommandsShareTheSingleSidedOptions(command: String) throws {
        let help = try Self.run([command, "--help"], environment: [:])
        #expect(help.status == 0)
        for flag in ["--tls-verify <tls-verify>", "--creds <creds>", "--cert-dir <cert-dir>", "--authfile <authfile>",
                     "--registry-token <registry-token>", "($SWCOPY_TLS_VERIFY)", "($SWCOPY_CREDS)",
                     "($SWCOPY_CERT_DIR)", "($SWCOPY_REGISTRY_TOKEN)", "$REGISTRY_AUTH_FILE"] {
            #expect(help.stdout.contains(flag), "\(command) --help lacks \(flag)")
        }
        #expect(!help.stdout.contains("--src-creds"))
    }

    @Test(arguments: twoSided)
    func twoRegistryCommandsShareTheSourceAndDestinationOptions(command: String) throws {
        let help = try Self.run([command, "--help"], environment: [:])
        #expect(help.status == 0)
        for side in ["src", "dest"] {
            let variable = side.uppercased()
            for flag in ["--\(side)-tls-verify <\(side)-tls-verify>", "--\(side)-creds <\(side)-creds>",
                         "--\(side)-cert-dir <\(side)-cert-dir>", "--\(side)-authfile <\(side)-authfile>",
                         "--\(side)-registry-token <\(side)-registry-token>", "($SWCOPY_\(variable)_TLS_VERIFY)",
                         "($SWCOPY_\(variable)_CREDS)", "($SWCOPY_\(variable)_CERT_DIR)",
                         "($SWCOPY_\(variable)_REGISTRY_TOKEN)"] {
                #expect(help.stdout.contains(flag), "\(command) --help lacks \(flag)")
            }
        }
        #expect(help.stdout.contains("--authfile <authfile>"))
    }

    @Test func malformedValuesAndConflictsAreRefusedNamingTheirSource() throws {
        let bad = try Self.run(["inspect", "docker://127.0.0.1:9/x/y"], environment: ["SWCOPY_TLS_VERIFY": "maybe"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("$SWCOPY_TLS_VERIFY: \"maybe\" is not true or false"), "\(bad.stderr)")
        let creds = try Self.run(["copy", "--dest-creds", ":x", "oci:/nonexistent:a", "oci:/nonexistent:b"], environment: [:])
        #expect(creds.status != 0)
        #expect(creds.stderr.contains("--dest-creds: credentials must be USERNAME[:PASSWORD]"), "\(creds.stderr)")
        let both = try Self.run(["list-tags", "docker://127.0.0.1:9/x"],
                                environment: ["SWCOPY_CREDS": "a:b", "SWCOPY_REGISTRY_TOKEN": "t"])
        #expect(both.status != 0)
        #expect(both.stderr.contains("--creds and --registry-token"), "\(both.stderr)")
        let login = try Self.run(["login", "--creds", "a:b", "-u", "a", "-p", "b", "127.0.0.1:9"], environment: [:])
        #expect(login.status != 0)
        #expect(login.stderr.contains("give either --creds or --username"), "\(login.stderr)")
        // A variable of one side does not leak to the other.
        let sides = try Self.run(["sync", "--src-repo", "docker://127.0.0.1:9/x", "--dst", "docker://127.0.0.1:9"],
                                 environment: ["SWCOPY_DEST_TLS_VERIFY": "sometimes"])
        #expect(sides.stderr.contains("$SWCOPY_DEST_TLS_VERIFY"), "\(sides.stderr)")
    }

    @Test(arguments: [AuthGate.Mode.basic, .bearer])
    func loginChecksStoresPrivatelyAndLogoutRemoves(mode: AuthGate.Mode) async throws {
        let gate = try await AuthGate(mode: mode)
        defer { gate.rig.stop() }
        let bench = try HelperBench()
        let registry = gate.rig.proxy.address
        let login = ["login", "--tls-verify=false", "-u", AuthGate.user, "--password-stdin", registry]

        let refused = try Self.run(login, environment: bench.environment, input: "wrong\n")
        #expect(refused.status == 1)
        #expect(refused.stderr.hasPrefix("swcopy: login to \(registry) failed: the credentials of alice were refused"),
                "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1, "one line: \(refused.stderr)")
        #expect(!refused.stderr.contains("wrong"), "the password is not echoed")
        #expect(!fileExists(bench.authFile))

        let accepted = try Self.run(login, environment: bench.environment, input: AuthGate.password + "\n")
        #expect(accepted.status == 0, "\(accepted.stderr)")
        #expect(accepted.stdout.contains("Login Succeeded! (credentials stored in \(bench.authFile))"))
        #expect(fileMode(bench.authFile) == 0o600)
        #expect(try AuthFile(path: bench.authFile).credentials(for: registry)
            == Credentials(username: AuthGate.user, password: AuthGate.password))

        // --creds works as well, and --authfile picks the file.
        let other = bench.root + "/other/auth.json"
        let viaCreds = try Self.run(["login", "--tls-verify=false", "--authfile", other,
                                     "--creds", "\(AuthGate.user):\(AuthGate.password)", registry],
                                    environment: bench.environment)
        #expect(viaCreds.status == 0, "\(viaCreds.stderr)")
        #expect(fileMode(other) == 0o600)

        let logout = try Self.run(["logout", registry], environment: bench.environment)
        #expect(logout.status == 0)
        #expect(try AuthFile(path: bench.authFile).credentials(for: registry) == nil)
        let again = try Self.run(["logout", registry], environment: bench.environment)
        #expect(again.status == 1)
        #expect(again.stderr == "swcopy: not logged in to \(registry)\n")
    }

    @Test func loginAndLogoutUseTheCredentialHelper() async throws {
        let gate = try await AuthGate(mode: .bearer)
        defer { gate.rig.stop() }
        let bench = try HelperBench()
        try bench.installStore("test")
        let registry = gate.rig.proxy.address
        try bench.writeAuthFile(#"{"credHelpers": {"\#(registry)": "test"}}"#)
        let login = try Self.run(["login", "--tls-verify=false", "-u", AuthGate.user, "--password-stdin", registry],
                                 environment: bench.environment, input: AuthGate.password)
        #expect(login.status == 0, "\(login.stderr)")
        #expect(login.stdout.contains("docker-credential-test"))
        #expect(bench.stored("test", server: registry)?.contains(#""Username":"alice""#) == true)
        #expect(try AuthFile(path: bench.authFile).credentials(for: registry) == nil, "not in the file")

        // Another command finds them through the helper.
        let tags = try Self.run(["list-tags", "--tls-verify=false", "docker://\(registry)/\(gate.rig.repository)"],
                                environment: bench.environment)
        #expect(!tags.stderr.contains("UNAUTHORIZED"), "\(tags.stderr)")
        #expect(bench.calls("test").contains("get"))

        let logout = try Self.run(["logout", registry], environment: bench.environment)
        #expect(logout.status == 0, "\(logout.stderr)")
        #expect(bench.stored("test", server: registry) == nil)
    }

    @Test func aMissingHelperIsOneLineNamingIt() async throws {
        let gate = try await AuthGate(mode: .basic)
        defer { gate.rig.stop() }
        let bench = try HelperBench()
        try bench.writeAuthFile(#"{"credsStore": "absent"}"#)
        let tags = try Self.run(["list-tags", "--tls-verify=false", "docker://\(gate.rig.proxy.address)/fault/app"],
                                environment: bench.environment)
        #expect(tags.status == 1)
        #expect(tags.stderr.split(separator: "\n").count == 1, "\(tags.stderr)")
        #expect(tags.stderr.contains("credential helper docker-credential-absent: not found on the search path"),
                "\(tags.stderr)")
    }
}
