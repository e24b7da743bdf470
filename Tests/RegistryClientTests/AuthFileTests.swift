import Foundation
import RegistryClient
import Testing
import TestSupport

@Suite struct AuthFileTests {
    private func write(_ path: String, _ json: String) throws {
        let folder = String(path[..<path.lastIndex(of: "/")!])
        _ = mkdirTree(folder)
        try writeFile(path, Array(json.utf8))
    }

    private func auth(_ user: String, _ password: String) -> String {
        Data("\(user):\(password)".utf8).base64EncodedString()
    }

    @Test func lookupOrderIsAuthfileThenEnvironmentThenRuntimeThenDocker() throws {
        let root = makeTemporaryDirectory(prefix: "swr-authfile")
        defer { removeTree(root) }
        let explicit = root + "/explicit.json", env = root + "/env.json"
        let runtime = root + "/run", home = root + "/home"
        try write(explicit, #"{"auths":{"a.test":{"auth":"\#(auth("explicit", "1"))"}}}"#)
        try write(env, #"{"auths":{"a.test":{"auth":"\#(auth("env", "2"))"},"b.test":{"auth":"\#(auth("env", "2"))"}}}"#)
        try write(runtime + "/containers/auth.json",
                  #"{"auths":{"b.test":{"auth":"\#(auth("runtime", "3"))"},"c.test":{"auth":"\#(auth("runtime", "3"))"}}}"#)
        try write(home + "/.docker/config.json",
                  #"{"auths":{"https://d.test:5000/v1/":{"auth":"\#(auth("docker", "4"))"},"c.test":{"auth":"\#(auth("docker", "4"))"}},"credsStore":"none"}"#)
        let environment = ["REGISTRY_AUTH_FILE": env, "XDG_RUNTIME_DIR": runtime, "HOME": home]
        #expect(AuthFile.searchPaths(authFile: explicit, environment: environment)
            == [explicit, env, runtime + "/containers/auth.json", home + "/.docker/config.json"])
        func user(_ registry: String, _ authFile: String? = explicit) throws -> String? {
            try AuthFile.lookup(registry: registry, authFile: authFile, environment: environment)?.username
        }
        #expect(try user("a.test") == "explicit")
        #expect(try user("a.test", nil) == "env")
        #expect(try user("b.test") == "env")
        #expect(try user("c.test") == "runtime")
        #expect(try user("d.test:5000") == "docker", "scheme and /v1/ path are ignored")
        // The docker file names a default helper (credsStore) that is not installed: a registry found in no
        // `auths` reaches it, and that is an error naming the helper, not anonymous access.
        let missing = #expect(throws: CredentialHelperError.self) { try user("e.test") }
        #expect(missing?.program == "docker-credential-none")
        #expect(try user("c.test", nil) == "runtime")
        #expect(try AuthFile.lookup(registry: "c.test", authFile: nil, environment: ["HOME": home])?.password == "4")
    }

    @Test func savingKeepsOtherKeysAndIsPrivate() throws {
        let root = makeTemporaryDirectory(prefix: "swr-authfile")
        defer { removeTree(root) }
        let path = root + "/nested/dir/auth.json"
        try write(path, #"{"auths":{"keep.test":{"auth":"\#(auth("k", "v"))","email":"k@example.com"}},"credHelpers":{"gcr.io":"gcloud"},"HttpHeaders":{"X-A":"b"}}"#)
        var file = try AuthFile(path: path)
        file.setCredentials(Credentials(username: "new", password: "p:w"), for: "new.test:5000")
        try file.save()
        #expect(fileMode(path) == 0o600)
        let reread = try AuthFile(path: path)
        #expect(reread.credentials(for: "new.test:5000") == Credentials(username: "new", password: "p:w"))
        #expect(reread.credentials(for: "keep.test") == Credentials(username: "k", password: "v"))
        let json = try JSONSerialization.jsonObject(with: Data(readFile(path)!)) as? [String: Any]
        #expect((json?["credHelpers"] as? [String: String]) == ["gcr.io": "gcloud"])
        #expect(((json?["auths"] as? [String: Any])?["keep.test"] as? [String: String])?["email"] == "k@example.com")

        // A new file (and its folders) is created on save.
        var fresh = try AuthFile(path: root + "/a/b/c.json")
        fresh.setCredentials(Credentials(username: "u", password: ""), for: "x.test")
        try fresh.save()
        #expect(try AuthFile(path: root + "/a/b/c.json").credentials(for: "x.test")?.username == "u")
    }

    @Test func logoutRemovesTheEntry() throws {
        let root = makeTemporaryDirectory(prefix: "swr-authfile")
        defer { removeTree(root) }
        let path = root + "/auth.json"
        try write(path, #"{"auths":{"https://gone.test/v1/":{"auth":"\#(auth("a", "b"))"},"stay.test":{"auth":"\#(auth("c", "d"))"}}}"#)
        #expect(try AuthFile.logout(registry: "gone.test", authFile: path, environment: [:]))
        #expect(try AuthFile(path: path).credentials(for: "gone.test") == nil)
        #expect(try AuthFile(path: path).credentials(for: "stay.test")?.username == "c")
        #expect(try AuthFile.logout(registry: "gone.test", authFile: path, environment: [:]) == false)
    }

    @Test func malformedFilesAreReportedNotIgnored() throws {
        let root = makeTemporaryDirectory(prefix: "swr-authfile")
        defer { removeTree(root) }
        try write(root + "/bad.json", "{not json")
        #expect(throws: AuthFileError.self) { _ = try AuthFile(path: root + "/bad.json") }
        #expect(throws: AuthFileError.self) {
            _ = try AuthFile.lookup(registry: "x", authFile: root + "/bad.json", environment: [:])
        }
        // Absent and empty files are just empty.
        #expect(try AuthFile(path: root + "/absent.json").credentials(for: "x") == nil)
        try write(root + "/empty.json", "")
        #expect(try AuthFile(path: root + "/empty.json").credentials(for: "x") == nil)
        #expect(Credentials(parsing: "user:pa:ss") == Credentials(username: "user", password: "pa:ss"))
        #expect(Credentials(parsing: ":x") == nil)
    }
}

/// mkdir -p.
func mkdirTree(_ path: String) -> Bool {
    var built = ""
    for part in path.split(separator: "/") {
        built += "/" + part
        mkdir(built, 0o700)
    }
    return fileExists(path)
}
