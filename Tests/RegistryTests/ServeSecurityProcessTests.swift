import Foundation
import Glibc
import RegistryAuth
import Testing
import TestSupport

/// `swregistry serve --config` with TLS, htpasswd and a policy, on the real binary: SIGHUP puts new users, policies
/// and certificates in force, and a broken certificate keeps the running ones.
@Suite struct ServeSecurityProcessTests {
    typealias Scratch = ConfigProcessTests.Scratch

    /// Runs a command; its exit status and what it printed on stdout and stderr.
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// A CA and two server certificates for 127.0.0.1 (`first`, `second`) signed by it.
    static func makeCertificates(in directory: String) throws {
        let steps = [
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
             "-subj", "/CN=reload-ca", "-keyout", "\(directory)/ca.key", "-out", "\(directory)/ca.crt"],
        ] + ["first", "second"].flatMap { name in [
            ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=\(name)",
             "-keyout", "\(directory)/\(name).key", "-out", "\(directory)/\(name).csr"],
            ["openssl", "x509", "-req", "-in", "\(directory)/\(name).csr", "-CA", "\(directory)/ca.crt", "-CAkey",
             "\(directory)/ca.key", "-CAcreateserial", "-days", "2", "-extfile", "\(directory)/ext",
             "-out", "\(directory)/\(name).crt"],
        ] }
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: "\(directory)/ext", atomically: true, encoding: .utf8)
        for step in steps {
            let (status, output) = try run(step)
            guard status == 0 else { throw FixtureError("\(step.joined(separator: " ")): \(output)") }
        }
    }

    @Test func sighupReloadsUsersPoliciesAndCertificates() throws {
        let scratch = Scratch()
        defer { removeTree(scratch.directory) }
        let dir = scratch.directory
        try Self.makeCertificates(in: dir)
        func installCertificate(_ name: String) throws {
            for ext in ["crt", "key"] {
                let bytes = try #require(readWholeFile("\(dir)/\(name).\(ext)"))
                scratch.write(String(decoding: bytes, as: UTF8.self), to: "\(dir)/server.\(ext)")
            }
        }
        try installCertificate("first")
        let hash = try #require(HtpasswdFile.makeBcryptHash(password: "pw", cost: 4))
        scratch.write("alice:\(hash)\n", to: dir + "/htpasswd")
        chmod(dir + "/htpasswd", 0o600)
        func configuration(readers: String) -> String {
            """
            http: {addr: "127.0.0.1:0", tls: {certificate: \(dir)/server.crt, key: \(dir)/server.key}}
            storage: {filesystem: {rootdirectory: \(dir)/data}}
            auth: {htpasswd: {realm: reload, path: \(dir)/htpasswd}}
            accesscontrol: {repositories: {"**": {policies: [{users: [\(readers)], actions: [pull]}]}}}

            """
        }
        scratch.write(configuration(readers: "alice"))
        let process = try ChildProcess("/usr/bin/env", [ServeProcessTests.binary, "serve", "--config", scratch.file],
                                       stderrPath: scratch.log)
        let line = try process.readLine(containing: "listening on")
        let port = try #require(line.split(separator: " ")[3].split(separator: ":").last)

        /// The status of `GET /v2/_catalog` as `user`, and the subject of the certificate the server sent.
        func probe(_ user: String) throws -> (status: String, subject: String) {
            let (_, output) = try Self.run(["curl", "-sv", "-o", "/dev/null", "-w", "status=%{http_code}\n",
                                            "--cacert", "\(dir)/ca.crt", "-u", "\(user):pw",
                                            "https://127.0.0.1:\(port)/v2/_catalog"])
            let status = output.split(separator: "\n").first { $0.hasPrefix("status=") }.map { String($0.dropFirst(7)) }
            let subject = output.split(separator: "\n").first { $0.contains("subject: CN=") }
                .map { String($0.split(separator: "CN=").last!) }
            return (status ?? output, subject ?? "none")
        }
        #expect(try probe("alice") == ("200", "first"))
        #expect(try probe("bob").status == "401", "bob is not a user yet")

        // New user, new policy, new certificate at the same paths: all in force after one SIGHUP.
        scratch.write("alice:\(hash)\nbob:\(hash)\n", to: dir + "/htpasswd")
        chmod(dir + "/htpasswd", 0o600)
        scratch.write(configuration(readers: "alice, bob"))
        try installCertificate("second")
        process.signal(SIGHUP)
        #expect(scratch.waitForLog("configuration reloaded"), "\(scratch.logText())")
        #expect(try probe("bob") == ("200", "second"))

        // A broken certificate: the reload fails as a whole and the running configuration stays.
        scratch.write("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n", to: dir + "/server.crt")
        scratch.write(configuration(readers: "alice"))
        process.signal(SIGHUP)
        #expect(scratch.waitForLog("reload failed, keeping the running configuration"), "\(scratch.logText())")
        #expect(try probe("bob") == ("200", "second"), "bob keeps his access: nothing of the failed reload applies")

        process.signal(SIGTERM)
        #expect(try process.waitForExit() == 0)
    }
}
