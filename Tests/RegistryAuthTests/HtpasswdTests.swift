import Foundation
@testable import RegistryAuth
import Testing
import TestSupport

@Suite struct HtpasswdTests {
    /// An unknown user is checked against a decoy as dear as the file's dearest entry (`htpasswd -B` writes cost 5):
    /// a cheaper or dearer decoy would tell by its time which user names exist.
    @Test func theDecoyCostsWhatTheEntriesCost() throws {
        for cost in [4, 5, 7] {
            let hash = try #require(HtpasswdFile.makeBcryptHash(password: "pw", cost: cost))
            let file = try HtpasswdFile(contents: Array("alice:\(hash)\n".utf8), path: "t")
            #expect(file.decoyHash.dropFirst(4).prefix(3) == String(format: "%02d$", cost), "\(file.decoyHash.prefix(7))")
        }
    }

    /// An entry dearer than `htpasswd -C` allows (17) is refused at load: hashing the decoy at its cost would hang
    /// the load (cost 31: 2^31 rounds), and every login would cost as much.
    @Test func bcryptCostsAboveSeventeenAreRefused() throws {
        let salt = String(repeating: "a", count: 53)
        for cost in [18, 31] {
            #expect(throws: AuthError.self) {
                try HtpasswdFile(contents: Array("alice:$2y$\(cost)$\(salt)\n".utf8), path: "t")
            }
        }
        let file = try HtpasswdFile(contents: Array("alice:$2y$04$\(salt)\n".utf8), path: "t")
        #expect(file.users == ["alice"])
    }

    /// A bcrypt entry as `htpasswd -B` writes it when apache2-utils is installed, else from libxcrypt itself.
    static func bcryptLine(user: String, password: String, cost: Int = 5) throws -> String {
        if (try? shell("command -v htpasswd")) != nil {
            return try shell("htpasswd -nbB -C \(cost) \(user) \(password)").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return "\(user):" + (try #require(HtpasswdFile.makeBcryptHash(password: password, cost: cost)))
    }

    func write(_ text: String, mode: Int = 0o600) throws -> String {
        let path = makeTemporaryDirectory(prefix: "htpasswd") + "/htpasswd"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, mode_t(mode))
        return path
    }

    @Test func verifiesBcryptEntries() throws {
        let path = try write("# team\n\n" + (try Self.bcryptLine(user: "alice", password: "s3cret")) + "\n"
            + (try Self.bcryptLine(user: "bob", password: "hunter2")) + "\r\n")
        let file = try HtpasswdFile(path: path)
        #expect(file.users == ["alice", "bob"])
        #expect(file.warning == nil)
        #expect(file.verify(user: "alice", password: "s3cret"))
        #expect(file.verify(user: "bob", password: "hunter2"))
        #expect(!file.verify(user: "alice", password: "hunter2"))
        #expect(!file.verify(user: "alice", password: "s3cret\u{0}"))
        #expect(!file.verify(user: "carol", password: "s3cret"))
    }

    /// libxcrypt's own `$2b$` hashes (the fallback when apache2-utils is absent) verify through the same path.
    @Test func libxcryptHashesVerify() throws {
        let hash = try #require(HtpasswdFile.makeBcryptHash(password: "pässword", cost: 4))
        #expect(hash.hasPrefix("$2b$04$"))
        let file = try HtpasswdFile(contents: Array("carol:\(hash)\n".utf8), path: "inline")
        #expect(file.verify(user: "carol", password: "pässword"))
        #expect(!file.verify(user: "carol", password: "password"))
        #expect(HtpasswdFile.makeBcryptHash(password: "a\u{0}b", cost: 4) == nil)
    }

    @Test func everyOtherHashFormatIsRefusedWithFileAndLine() throws {
        let good = try Self.bcryptLine(user: "alice", password: "pw")
        let refused = [
            ("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "SHA-1 ({SHA})"),
            ("$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/", "Apache MD5 ($apr1$)"),
            ("$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", "MD5-crypt ($1$)"),
            ("$6$saltsalt$2ZeU.d5Nlx5UQJ3yQ6SyjvOZ9BbDwLwHvhXPcvsTmJa4JAIvrjQ5D5oHq1vSdSo9x8ewGrGMdcGO1WBS5t9oY0", "SHA-crypt"),
            ("rqXexS6ZhobKA", "crypt(3) DES"),
            ("hunter2", "plain-text password"),
            ("$2y$10$tooshort", "malformed bcrypt"),
        ]
        for (hash, format) in refused {
            let path = try write("# comment\n\n\(good)\nbob:\(hash)\n")
            do {
                _ = try HtpasswdFile(path: path)
                Issue.record("\(format) accepted")
            } catch {
                #expect(error.description.hasPrefix("htpasswd \(path):4: user \"bob\""), "\(error)")
                #expect(error.description.contains(format), "\(error)")
                #expect(error.description.contains("only bcrypt entries"), "\(error)")
                #expect(!error.description.contains(hash), "the message must not echo the hash")
            }
        }
    }

    @Test func malformedLinesAndDuplicateUsersAreRefused() throws {
        let good = try Self.bcryptLine(user: "alice", password: "pw")
        let noColon = try write("\(good)\nbob\n")
        #expect(throws: AuthError("htpasswd \(noColon):2: expected user:hash")) { try HtpasswdFile(path: noColon) }
        let twice = try write("\(good)\n\(good)\n")
        #expect(throws: AuthError("htpasswd \(twice):2: user \"alice\" appears twice")) { try HtpasswdFile(path: twice) }
        #expect(throws: AuthError("htpasswd /nonexistent/htpasswd: no such file")) {
            try HtpasswdFile(path: "/nonexistent/htpasswd")
        }
    }

    @Test func warnsWhenOthersCanReadTheFile() throws {
        let path = try write(try Self.bcryptLine(user: "alice", password: "pw") + "\n", mode: 0o644)
        let warning = try #require(try HtpasswdFile(path: path).warning)
        #expect(warning.contains("readable by other users"))
    }

    @Test func constantTimeCompare() {
        #expect(constantTimeEquals(Array("$2y$05$abc".utf8), Array("$2y$05$abc".utf8)))
        #expect(!constantTimeEquals(Array("$2y$05$abc".utf8), Array("$2y$05$abd".utf8)))
        #expect(!constantTimeEquals(Array("$2y$05$abc".utf8), Array("$2y$05$ab".utf8)))
        #expect(!constantTimeEquals([UInt8](), [0]))
    }

    @Test func basicAuthenticatorOutcomes() throws {
        let file = try HtpasswdFile(path: try write(try Self.bcryptLine(user: "alice", password: "s3:cret") + "\n"))
        let basic = BasicAuthenticator(realm: #"my "registry""#, users: file)
        let header = { (credentials: String) in "Basic " + Data(credentials.utf8).base64EncodedString() }
        #expect(basic.authenticate(authorization: nil) == .anonymous)
        #expect(basic.authenticate(authorization: header("alice:s3:cret")) == .authenticated(Identity(user: "alice")))
        #expect(basic.authenticate(authorization: "basic " + Data("alice:s3:cret".utf8).base64EncodedString())
            == .authenticated(Identity(user: "alice")))
        #expect(basic.authenticate(authorization: header("alice:wrong")) == .invalid(reason: "wrong password", user: "alice"))
        #expect(basic.authenticate(authorization: header("mallory:s3:cret")) == .invalid(reason: "unknown user", user: "mallory"))
        #expect(basic.authenticate(authorization: "Bearer abc.def.ghi")
            == .invalid(reason: "bearer credentials sent to a Basic realm", user: nil))
        for malformed in ["Basic", "Basic !!!", "Basic YWxpY2U", "Basic " + Data("no-colon".utf8).base64EncodedString()] {
            guard case .invalid(_, nil) = basic.authenticate(authorization: malformed) else {
                Issue.record("\(malformed) not refused")
                continue
            }
        }
        #expect(basic.challenge(for: [], error: nil) == #"Basic realm="my \"registry\"""#)
    }

    @Test func successfulChecksAreCachedFailuresAreNot() throws {
        // Cost 10, as htpasswd -B writes by default: a full check takes ~0.1 s, a cached one microseconds.
        let file = try HtpasswdFile(path: try write(try Self.bcryptLine(user: "alice", password: "s3cret", cost: 10) + "\n"))
        let basic = BasicAuthenticator(realm: "r", users: file)
        let good = "Basic " + Data("alice:s3cret".utf8).base64EncodedString()
        let bad = "Basic " + Data("alice:guess".utf8).base64EncodedString()
        #expect(basic.authenticate(authorization: bad) != .authenticated(Identity(user: "alice")))
        #expect(basic.cache.count == 0)
        let clock = ContinuousClock()
        let first = clock.measure { #expect(basic.authenticate(authorization: good) == .authenticated(Identity(user: "alice"))) }
        #expect(basic.cache.hits == 0)
        let second = clock.measure { #expect(basic.authenticate(authorization: good) == .authenticated(Identity(user: "alice"))) }
        #expect(basic.cache.hits == 1)
        #expect(second * 10 < first, "first \(first), cached \(second)")
        // A wrong password after a cached success is still checked in full and refused.
        #expect(basic.authenticate(authorization: bad) == .invalid(reason: "wrong password", user: "alice"))
        #expect(basic.cache.hits == 1)
    }

    @Test func strictBase64() {
        #expect(Base64.decodeStandard("YWxpY2U6cHc=") == Array("alice:pw".utf8))
        #expect(Base64.decodeStandard("YWxpY2U6cHc") == nil)
        #expect(Base64.decodeStandard("YWxpY2U6cHd=") == nil)  // non-zero trailing bits
        #expect(Base64.decodeURL("YWxpY2U6cHc") == Array("alice:pw".utf8))
        #expect(Base64.decodeURL("YWxpY2U6cHc=") == nil)
        #expect(Base64.decodeURL("YW xpY2U") == nil)
        #expect(Base64.encodeURL([0xFB, 0xFF]) == "-_8")
    }
}
