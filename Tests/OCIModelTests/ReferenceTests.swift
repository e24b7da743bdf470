import Foundation
import Testing
@testable import OCIModel

@Suite("Reference")
struct ReferenceTests {
    static let digest = "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

    @Test("host with port, nested name and tag")
    func localhostPortTag() throws {
        let reference = try Reference(parsing: "localhost:5000/a/b:tag")
        #expect(reference.host == "localhost:5000")
        #expect(reference.repository.value == "a/b")
        #expect(reference.repository.components == ["a", "b"])
        #expect(reference.tag?.value == "tag")
        #expect(reference.digest == nil)
        #expect(reference.identifier == "tag")
        #expect(reference.name == "localhost:5000/a/b")
    }

    @Test("domain host with digest")
    func domainDigest() throws {
        let reference = try Reference(parsing: "registry.example.com/ns/img@\(Self.digest)")
        #expect(reference.host == "registry.example.com")
        #expect(reference.repository.value == "ns/img")
        #expect(reference.tag == nil)
        #expect(reference.digest?.description == Self.digest)
        #expect(reference.identifier == Self.digest)
    }

    @Test("a bare name gets tag latest and no host")
    func bareName() throws {
        let reference = try Reference(parsing: "img")
        #expect(reference.host == nil)
        #expect(reference.repository.value == "img")
        #expect(reference.tag == .latest)
        #expect(reference.digest == nil)
        #expect(reference.description == "img:latest")
    }

    @Test("tag and digest together")
    func tagAndDigest() throws {
        let reference = try Reference(parsing: "img:tag@\(Self.digest)")
        #expect(reference.tag?.value == "tag")
        #expect(reference.digest?.description == Self.digest)
        #expect(reference.identifier == Self.digest)
        #expect(reference.description == "img:tag@\(Self.digest)")
    }

    @Test("bracketed IPv6 host with port")
    func ipv6() throws {
        let reference = try Reference(parsing: "[::1]:5000/x")
        #expect(reference.host == "[::1]:5000")
        #expect(reference.repository.value == "x")
        #expect(reference.tag == .latest)
        #expect(try Reference(parsing: "[2001:db8::1]/a/b:v1").host == "[2001:db8::1]")
        #expect(try Reference(parsing: "[::ffff:10.0.0.1]:443/a").host == "[::ffff:10.0.0.1]:443")
    }

    @Test("decides what is a host like docker does", arguments: [
        ("library/ubuntu", nil, "library/ubuntu"),
        ("localhost/x", "localhost", "x"),
        ("example.com/x", "example.com", "x"),
        ("example.com:443/x/y", "example.com:443", "x/y"),
        ("10.0.0.1:5000/x", "10.0.0.1:5000", "x"),
        ("Registry.Example.COM/x", "Registry.Example.COM", "x"),
        ("host:5000/a/b/c/d", "host:5000", "a/b/c/d"),
        ("my-registry/x", nil, "my-registry/x"),
    ] as [(String, String?, String)])
    func hostDetection(_ text: String, host: String?, repository: String) throws {
        let reference = try Reference(parsing: text)
        #expect(reference.host == host)
        #expect(reference.repository.value == repository)
    }

    @Test("a lone host:port reads as name:tag, as in docker")
    func lonePort() throws {
        let reference = try Reference(parsing: "localhost:5000")
        #expect(reference.host == nil)
        #expect(reference.repository.value == "localhost")
        #expect(reference.tag?.value == "5000")
    }

    @Test("description round-trips", arguments: [
        "img:latest", "a/b:c", "localhost:5000/a/b:tag", "[::1]:5000/x:latest",
        "registry.example.com/ns/img@\(digest)", "h.io/a:t@\(digest)",
    ])
    func roundTrip(_ text: String) throws {
        let reference = try Reference(parsing: text)
        #expect(reference.description == text)
        #expect(try Reference(parsing: reference.description) == reference)
    }

    @Test("building from parts defaults the tag only without a digest")
    func memberwise() throws {
        let name = try RepositoryName(validating: "a/b")
        #expect(Reference(repository: name).tag == .latest)
        let pinned = Reference(repository: name, digest: try Digest(parsing: Self.digest))
        #expect(pinned.tag == nil)
        #expect(pinned.description == "a/b@\(Self.digest)")
    }

    @Test("rejects bad repository names", arguments: [
        "UPPER/img", "Img", "host.com/Img", "a//b", "a/", "host.com/", "/a", "a/../b", "..", "a/./b", ".a",
        "a__-b", "a b", "host.com//x", ":tag", "@" + digest,
    ])
    func badNames(_ text: String) {
        let error = #expect(throws: ReferenceError.self) { try Reference(parsing: text) }
        guard case .invalidRepositoryName = error else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test("rejects bad tags", arguments: [
        "img:", "img:-x", "img:.x", "img:" + String(repeating: "t", count: 129), "img:a+b", "img:tág",
    ])
    func badTags(_ text: String) {
        let error = #expect(throws: ReferenceError.self) { try Reference(parsing: text) }
        guard case .invalidTag = error else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test("accepts a 128-character tag")
    func longestTag() throws {
        let tag = String(repeating: "t", count: 128)
        #expect(try Reference(parsing: "img:\(tag)").tag?.value == tag)
    }

    @Test("rejects bad digests, keeping the digest error")
    func badDigests() {
        let short = #expect(throws: ReferenceError.self) { try Reference(parsing: "img@sha256:abc") }
        guard case .invalidDigest(.invalid) = short else { Issue.record("got \(String(describing: short))"); return }
        #expect(throws: ReferenceError.invalidDigest(.unsupportedAlgorithm("foo"))) {
            try Reference(parsing: "img@foo:bar")
        }
        #expect(throws: ReferenceError.self) { try Reference(parsing: "img@") }
        #expect(throws: ReferenceError.self) { try Reference(parsing: "img@\(Self.digest)@\(Self.digest)") }
    }

    @Test("rejects bad hosts", arguments: [
        "host.com:99999/x", "host.com:0/x", "host.com:/x", "host.com:abc/x", "[::1/x", "[]/x", "[zz::1]/x",
        "[::1]x/x", "[12]/x", "-a.com/x", "a-.com/x", "ex..com/x", ".com/x", "a_b.com/x", "höst.com/x",
    ])
    func badHosts(_ text: String) {
        let error = #expect(throws: ReferenceError.self) { try Reference(parsing: text) }
        guard case .invalidHost = error else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test("rejects the empty string")
    func empty() {
        #expect(throws: ReferenceError.empty) { try Reference(parsing: "") }
    }

    @Test("limits host plus name to 255 characters")
    func totalLength() throws {
        let host = "registry.example.org:5000"  // 25 characters, as in distribution-spec's example
        let fits = String(repeating: "a", count: 229)
        #expect(try Reference(parsing: "\(host)/\(fits)").repository.value == fits)
        let error = #expect(throws: ReferenceError.self) { try Reference(parsing: "\(host)/\(fits)a") }
        guard case let .invalidRepositoryName(_, reason) = error else {
            Issue.record("got \(String(describing: error))"); return
        }
        #expect(reason.contains("255"))
    }

    @Test("errors say what is wrong")
    func messages() {
        let upper = #expect(throws: ReferenceError.self) { try Reference(parsing: "Foo/bar") }
        #expect(upper?.description.contains("lowercase") == true)
        let port = #expect(throws: ReferenceError.self) { try Reference(parsing: "h.io:70000/x") }
        #expect(port?.description.contains("port") == true)
    }
}

@Suite("RepositoryName")
struct RepositoryNameTests {
    @Test("accepts names the grammar allows", arguments: [
        "a", "0", "a/b", "a.b", "a_b", "a__b", "a-b", "a---b", "a0/b1/c2", "library/ubuntu",
        "a.b-c_d__e/f-g", "x/y/z/w/v", String(repeating: "a", count: 255),
    ])
    func valid(_ text: String) throws {
        #expect(try RepositoryName(validating: text).value == text)
    }

    @Test("rejects names the grammar forbids", arguments: [
        "", "A", "aB", "a//b", "a/", "/a", "..", ".", "a/../b", "a/./b", ".a", "a.", "a-", "-a", "_a",
        "a___b", "a..b", "a._b", "a-_b", "a_-b", "a.-b", "a b", "a:b", "a@b", "ü", "a\u{0}b",
        String(repeating: "a", count: 256),
    ])
    func invalid(_ text: String) {
        let error = #expect(throws: ReferenceError.self) { try RepositoryName(validating: text) }
        guard case .invalidRepositoryName(text, _) = error else {
            Issue.record("got \(String(describing: error))"); return
        }
    }

    @Test("explains each failure", arguments: [
        ("Abc", "lowercase"),
        ("a//b", "empty path component"),
        ("a/", #"ends with "/""#),
        ("a/.b", "starts with '.'"),
        ("a..b", "misplaced separator"),
        ("a-", "ends with a separator"),
        ("a$b", "invalid character '$'"),
        (String(repeating: "a", count: 256), "limit is 255"),
        ("", "empty"),
    ])
    func reasons(_ text: String, fragment: String) {
        let error = #expect(throws: ReferenceError.self) { try RepositoryName(validating: text) }
        #expect(error?.description.contains(fragment) == true, "\(String(describing: error))")
    }

    @Test("is Codable with validation, and ordered")
    func codable() throws {
        let names = try JSONDecoder().decode([RepositoryName].self, from: Data(#"["b/c","a"]"#.utf8))
        #expect(names.sorted().map(\.value) == ["a", "b/c"])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([RepositoryName].self, from: Data(#"["B"]"#.utf8))
        }
    }
}

@Suite("Tag")
struct TagTests {
    @Test("accepts tags the grammar allows", arguments: [
        "latest", "v1.0", "_x", "A", "1-2.3_4", "x..y", "a--", String(repeating: "t", count: 128),
    ])
    func valid(_ text: String) throws {
        #expect(try Tag(validating: text).value == text)
    }

    @Test("rejects tags the grammar forbids", arguments: [
        "", ".x", "-x", "a/b", "a:b", "a@b", "a b", "ü", String(repeating: "t", count: 129),
    ])
    func invalid(_ text: String) {
        let error = #expect(throws: ReferenceError.self) { try Tag(validating: text) }
        guard case .invalidTag(text, _) = error else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test("says why a long tag is refused")
    func tooLong() {
        let error = #expect(throws: ReferenceError.self) { try Tag(validating: String(repeating: "t", count: 129)) }
        #expect(error?.description.contains("129 characters long; the limit is 128") == true)
    }
}
