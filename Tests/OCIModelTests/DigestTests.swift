import Foundation
import Testing
@testable import OCIModel

@Suite("Digest")
struct DigestTests {
    @Test("parses a sha256 digest from the spec")
    func parsesSHA256() throws {
        let text = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"
        let digest = try Digest(parsing: text)
        #expect(digest.algorithm == .sha256)
        #expect(digest.encoded == "6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b")
        #expect(digest.description == text)
    }

    @Test("parses a sha512 digest")
    func parsesSHA512() throws {
        let text = "sha512:" + repeated("0", 128)
        let digest = try Digest(parsing: text)
        #expect(digest.algorithm == .sha512)
        #expect(digest.description == text)
    }

    @Test("parses from a Substring")
    func parsesSubstring() throws {
        let text = "x@" + sha256String()
        let digest = try Digest(parsing: text.dropFirst(2))
        #expect(digest.description == sha256String())
    }

    @Test("rejects malformed digests", arguments: [
        "",
        "sha256",
        "sha256:",
        ":" + repeated("a", 64),
        "sha256:" + repeated("a", 63),
        "sha256:" + repeated("a", 65),
        "sha256:" + repeated("A", 64),
        "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "sha256:" + repeated("g", 64),
        "sha256:XYZ" + repeated("a", 61),
        "SHA256:" + repeated("a", 64),
        "sha256: " + repeated("a", 63),
        "sha256::" + repeated("a", 64),
        "sha256:" + repeated("a", 64) + "\n",
        "sha512:" + repeated("a", 64),
        "sha512:" + repeated("a", 127),
        "+sha256:abc",
        "sha256+:abc",
        "sha__256:abc",
        "sha256:abc/def",
        "sha256:abc+def",
    ])
    func rejectsMalformed(_ text: String) {
        let error = #expect(throws: DigestError.self) { try Digest(parsing: text) }
        guard case .invalid = error else {
            Issue.record("expected .invalid for \(text.debugDescription), got \(String(describing: error))")
            return
        }
    }

    @Test("rejects grammatical digests with unregistered algorithms", arguments: [
        ("blake3:" + repeated("a", 64), "blake3"),
        ("foo:bar", "foo"),
        ("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", "multihash+base58"),
        ("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", "sha256+b64u"),
        ("sha384:" + repeated("a", 96), "sha384"),
    ])
    func rejectsUnsupportedAlgorithm(_ text: String, algorithm: String) {
        #expect(throws: DigestError.unsupportedAlgorithm(algorithm)) { try Digest(parsing: text) }
    }

    @Test("explains what is wrong")
    func explains() {
        let short = #expect(throws: DigestError.self) { try Digest(parsing: "sha256:" + repeated("a", 63)) }
        #expect(short?.description.contains("64 hex characters, not 63") == true)
        let upper = #expect(throws: DigestError.self) { try Digest(parsing: "sha256:" + repeated("A", 64)) }
        #expect(upper?.description.contains("lowercase") == true)
        let nonHex = #expect(throws: DigestError.self) { try Digest(parsing: "sha256:XYZ" + repeated("a", 61)) }
        #expect(nonHex?.description.contains("hex") == true)
        let noColon = #expect(throws: DigestError.self) { try Digest(parsing: "sha256") }
        #expect(noColon?.description.contains("missing ':'") == true)
        let unknown = #expect(throws: DigestError.self) { try Digest(parsing: "blake3:abc") }
        #expect(unknown?.description == #"unsupported digest algorithm "blake3" (supported: sha256, sha512)"#)
    }

    @Test("keeps error messages bounded for huge input")
    func boundedMessages() {
        let error = #expect(throws: DigestError.self) { try Digest(parsing: "sha256:" + repeated("z", 1_000_000)) }
        #expect((error?.description.count ?? .max) < 400)
    }

    @Test("validates parts given separately")
    func fromParts() throws {
        let digest = try Digest(algorithm: .sha256, encoded: repeated("b", 64))
        #expect(digest.description == sha256String("b"))
        #expect(throws: DigestError.self) { try Digest(algorithm: .sha256, encoded: repeated("b", 128)) }
        #expect(throws: DigestError.self) { try Digest(algorithm: .sha512, encoded: repeated("B", 128)) }
    }

    @Test("is Codable as a JSON string")
    func codable() throws {
        let digest = try Digest(parsing: sha256String("c"))
        let json = try JSONEncoder().encode([digest])
        #expect(String(decoding: json, as: UTF8.self) == #"["\#(sha256String("c"))"]"#)
        #expect(try JSONDecoder().decode([Digest].self, from: json) == [digest])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([Digest].self, from: Data(#"["sha256:abc"]"#.utf8))
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([Digest].self, from: Data(#"["md5:abc"]"#.utf8))
        }
    }

    @Test("is Hashable and Comparable")
    func ordering() throws {
        let a = try Digest(parsing: sha256String("1"))
        let b = try Digest(parsing: sha256String("2"))
        let c = try Digest(parsing: "sha512:" + repeated("0", 128))
        #expect([c, b, a].sorted() == [a, b, c])
        #expect(Set([a, a, b]).count == 2)
        #expect(try Digest(parsing: sha256String("1")) == a)
    }

    @Test("computes digests of bytes in memory")
    func computes() {
        #expect(Digest.sha256(of: [UInt8]()).description
            == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest.sha256(of: bytes("abc")).description
            == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.sha256(of: Data("abc".utf8)) == Digest.sha256(of: bytes("abc")))
        #expect(Digest.sha256(of: "abc".utf8) == Digest.sha256(of: bytes("abc")))
        #expect(Digest.sha512(of: bytes("abc")).description == "sha512:"
            + "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            + "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
        #expect(Digest.compute(.sha512, of: [UInt8]()).encoded.count == 128)
    }

    @Test("a computed digest re-parses to itself")
    func computedIsValid() throws {
        let digest = Digest.sha256(of: bytes("hello"))
        #expect(try Digest(parsing: digest.description) == digest)
    }
}
