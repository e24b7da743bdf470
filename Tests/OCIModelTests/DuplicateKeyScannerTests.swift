import Foundation
import Testing
@testable import OCIModel

@Suite("DuplicateKeyScanner")
struct DuplicateKeyScannerTests {
    private func problem(_ text: String) -> DuplicateKeyScanner.Problem? {
        problem(Array(text.utf8))
    }

    private func problem(_ bytes: [UInt8]) -> DuplicateKeyScanner.Problem? {
        bytes.withUnsafeBytes { DuplicateKeyScanner.firstProblem(in: $0) }
    }

    private func expectSyntaxError(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        guard case .syntax = problem(bytes) else {
            Issue.record("\(bytes): \(String(describing: problem(bytes)))", sourceLocation: sourceLocation)
            return
        }
    }

    @Test("finds a repeated key at any depth and names its path", arguments: [
        (#"{"a":1,"a":2}"#, "a"),
        (#"{"a":1,"b":{},"a":[]}"#, "a"),
        (#"{"layers":[{"digest":"x","size":1},{"digest":"y","size":2,"digest":"z"}]}"#, "layers[1].digest"),
        (#"{"a":{"b":[[0,{"c":1,"d":{},"c":2}]]}}"#, "a.b[0][1].c"),
        (#"{"manifests":[{"platform":{"os":"linux","os":"windows"}}]}"#, "manifests[0].platform.os"),
        (#"[{"annotations":{"k":"","k":""}}]"#, "[0].annotations.k"),
        (" {\n\t\"a\" : 1 ,\r\n \"a\"\t: 1 } ", "a"),
    ])
    func duplicates(_ json: String, path: String) {
        #expect(problem(json) == .duplicateKey(path))
    }

    @Test("compares keys after unescaping, as every reader does", arguments: [
        #"{"size":1,"\u0073ize":2}"#,
        #"{"\u0073\u0069\u007A\u0065":1,"size":2}"#,
        #"{"a/b":1,"a\/b":2}"#,
        #"{"\"":1,"\u0022":2}"#,
        #"{"\ud83d\ude00":1,"😀":2}"#,
        #"{"é":1,"\u00e9":2}"#,
        #"{"tab\t":1,"tab\u0009":2}"#,
    ])
    func escapedDuplicates(_ json: String) {
        guard case .duplicateKey = problem(json) else { Issue.record("\(json): \(String(describing: problem(json)))"); return }
    }

    @Test("compares keys as Go matches struct fields: ASCII case, long s and Kelvin sign folded", arguments: [
        #"{"size":1,"Size":2}"#,
        #"{"mediaType":"a","MEDIATYPE":"b"}"#,
        #"{"layers":[],"layerſ":[]}"#,
        #"{"layers":[],"layer\u017f":[]}"#,
        "{\"kind\":1,\"\u{212A}ind\":2}",
    ])
    func foldedDuplicates(_ json: String) {
        guard case .duplicateKey = problem(json) else { Issue.record("\(json): \(String(describing: problem(json)))"); return }
    }

    /// Annotations are Go maps: their keys are matched exactly (after unescaping), not folded like field names.
    @Test func annotationKeysAreComparedExactly() {
        #expect(problem(#"{"annotations":{"org.a":"1","ORG.A":"2","Annotations":"3"}}"#) == nil)
        #expect(problem(#"{"layers":[{"Annotations":{"k":"1","K":"2"}}]}"#) == nil)
        #expect(problem(#"{"annotations":{"k":"1","\u006b":"2"}}"#) == .duplicateKey("annotations.k"))
        #expect(problem(#"{"annotations":{"x":{"a":1,"A":2}}}"#) == .duplicateKey("annotations.x.A"))
    }

    @Test("keys that only look alike, or repeat in different objects, are not duplicates", arguments: [
        #"{"a":1,"a ":2," a":3,"b":4,"ab":5,"":6,"\u0000":7,"a\u0000":8}"#,
        // Go's fold sets (unicode.SimpleFold) hold neither dotless ı nor dotted İ with i (checked with skopeo).
        #"{"digest":1,"dıgest":2,"dİgest":3,"é":4,"e":5}"#,
        #"{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}],"c":[["a","a"]]}"#,
        #"{"x\"y":1,"x\\y":2,"x/y":3,"x\u0022z":4}"#,
    ])
    func notDuplicates(_ json: String) {
        #expect(problem(json) == nil)
    }

    @Test("strings holding braces, quotes and escapes are skipped as strings")
    func trickyStrings() {
        let json = #"""
        {"a":"{\"a\":1,\"a\":2}","b":"}]\\","c":"\\\"","d":"[{\"e\":\"}\"}]","e":"\u007b\u0022a\u0022:1}","f":"\\u0061"}
        """#
        #expect(problem(json) == nil)
        #expect(problem(#"{"x\"y":1,"x\"y":2}"#) == .duplicateKey(#"x\"y"#), "the path escapes the quote")
        #expect(problem(#"{"a\nb":1,"a\nb":2}"#) == .duplicateKey(#"a\u000ab"#), "the path stays on one line")
        #expect(problem(#"{"a":"\"","a":"}"}"#) == .duplicateKey("a"))
    }

    @Test("accepts nesting up to 64 levels and refuses deeper, without recursion")
    func depth() {
        let limit = DuplicateKeyScanner.maxDepth
        #expect(problem(String(repeating: "[", count: limit) + String(repeating: "]", count: limit)) == nil)
        #expect(problem(String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1))
            == .tooDeep(String(repeating: "[0]", count: limit)))
        let objects = String(repeating: #"{"a":"#, count: limit + 1) + "1" + String(repeating: "}", count: limit + 1)
        #expect(problem(objects) == .tooDeep(Array(repeating: "a", count: limit).joined(separator: ".")))
        // Far beyond any stack: refused at level 65 with no work on the rest.
        let bomb = String(repeating: "[", count: 1_000_000)
        guard case .tooDeep = problem(bomb) else { Issue.record("\(String(describing: problem(bomb)))"); return }
    }

    @Test("refuses what is not strict JSON", arguments: [
        "", " ", "{", "}", #"{"a"}"#, #"{"a":}"#, #"{"a":1,}"#, "[1,]", "[,1]", "{,}", #"{a:1}"#, "{'a':1}",
        "[01]", "[1.]", "[.5]", "[-]", "[1e]", "[+1]", "[0x10]", "[NaN]", "[Infinity]", "[tru]", "[nul]", "[True]",
        #"{"a":1}}"#, "{} x", "[] []", #"["\x"]"#, #"["\u12"]"#, #"["\u12g4"]"#, "[\"a\tb\"]", "[\"a\nb\"]",
        #"["\ud800"]"#, #"["\udc00"]"#, #"["\ud800\u0041"]"#, #"["\ud800x"]"#, "[/* c */]", "{\"a\":1 \"b\":2}",
    ])
    func syntax(_ json: String) {
        expectSyntaxError(Array(json.utf8))
    }

    @Test("refuses what is not UTF-8, and a byte-order mark")
    func encoding() {
        let prefix = Array(#"["a"#.utf8), suffix = Array(#""]"#.utf8)
        for bad: [UInt8] in [[0xFF], [0x80], [0xC0, 0xAF], [0xC2], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80],
                             [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xE2, 0x84]] {
            expectSyntaxError(prefix + bad + suffix)
        }
        expectSyntaxError([0xEF, 0xBB, 0xBF] + Array("{}".utf8))
        expectSyntaxError(Array(#"{"a":1}"#.utf8) + [0])
        #expect(problem(prefix + [0xF0, 0x9F, 0x98, 0x80, 0xE2, 0x84, 0xAA, 0xC3, 0xA9, 0xEF, 0xBF, 0xBF] + suffix) == nil)
    }

    @Test("accepts every JSON value form", arguments: [
        "0", "-0", "-0.5e+10", "1E-2", "123456789012345678901234567890", "true", "false", "null", #""""#, "[]", "{}",
        " [ 1 , \"a\" , { } , [ ] , null , true , false ] ", #"{"":{"":[{"":""}]}}"#,
        #"["\"\\\/\b\f\n\r\t\u0000\uD83D\uDE00 é"]"#,
    ])
    func valid(_ json: String) {
        #expect(problem(json) == nil)
    }

    @Test("passes the spec's examples", arguments: [
        SpecFixtures.descriptorManifest, SpecFixtures.descriptorWithURLs, SpecFixtures.descriptorWithArtifactType,
        SpecFixtures.ociManifest, SpecFixtures.emptyDescriptor, SpecFixtures.minimalArtifact,
        SpecFixtures.artifactWithoutConfig, SpecFixtures.artifactWithConfig, SpecFixtures.ociIndex,
        SpecFixtures.ociIndexMultipleMediaTypes, SpecFixtures.imageConfig, SpecFixtures.dockerManifestList,
        SpecFixtures.dockerManifest,
    ])
    func specExamples(_ json: String) {
        #expect(problem(json) == nil)
    }

    // MARK: Through ManifestDocument.parse

    @Test("parse refuses a manifest with a key twice, naming it")
    func parseRefusesDuplicates() {
        let descriptor = #""mediaType":"a/b","digest":"\#(sha256String())","size":1"#
        let json = #"{"schemaVersion":2,"config":{\#(descriptor)},"layers":[{\#(descriptor),"digest":"\#(sha256String("3"))"}]}"#
        let error = #expect(throws: ManifestError.self) { try ManifestDocument.parse(bytes(json)) }
        #expect(error == .duplicateKey("layers[0].digest"))
        #expect(error?.description.contains(#"repeats the key "layers[0].digest""#) == true, "\(String(describing: error))")
        let index = #"{"schemaVersion":2,"schemaVersion":2,"manifests":[]}"#
        #expect(throws: ManifestError.duplicateKey("schemaVersion")) { try ManifestDocument.parse(Data(index.utf8)) }
    }

    @Test("parse refuses deep nesting and non-strict JSON as such")
    func parseRefusesDepthAndSyntax() {
        let deep = #"{"schemaVersion":2,"x":"# + String(repeating: "[", count: 64) + String(repeating: "]", count: 64) + "}"
        #expect(throws: ManifestError.nestingTooDeep("x" + String(repeating: "[0]", count: 63), limit: 64)) {
            try ManifestDocument.parse(bytes(deep))
        }
        let bom = [0xEF, 0xBB, 0xBF] + bytes(SpecFixtures.ociManifest)
        let error = #expect(throws: ManifestError.self) { try ManifestDocument.parse(bom) }
        guard case .invalidJSON(let reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(reason.contains("at byte 0"), "\(reason)")
    }
}
