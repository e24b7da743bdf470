import Foundation
@testable import FuzzTargets
import Testing

/// Every fuzz target on its committed corpus (seeds and the inputs of past crashes), in the plain build: the
/// replay mode of `scripts/fuzz`, so that a parser change that breaks a target's promise fails `swift test`.
@Suite struct CorpusReplayTests {
    static let fuzzRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func inputs(_ target: FuzzTarget) -> [URL] {
        let folder = fuzzRoot.appendingPathComponent(target.name).appendingPathComponent("corpus")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().map { folder.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzTarget.all.map(\.name))
    func corpus(_ name: String) throws {
        let target = try #require(FuzzTarget.named(name))
        let inputs = Self.inputs(target)
        #expect(inputs.count >= 3, "\(name): its corpus has \(inputs.count) seeds")
        for input in inputs {
            target([UInt8](try Data(contentsOf: input)))
        }
    }

    @Test func everyTargetHasAnExecutableAndADictionary() throws {
        let sources = Self.fuzzRoot.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Sources/Fuzz")
        let executables = try FileManager.default.contentsOfDirectory(atPath: sources.path).filter { $0 != "FuzzTargets" }
        #expect(executables.count == FuzzTarget.all.count)
        for target in FuzzTarget.all {
            let dictionary = Self.fuzzRoot.appendingPathComponent(target.name).appendingPathComponent("dictionary")
            #expect(FileManager.default.fileExists(atPath: dictionary.path), "\(target.name) has no dictionary")
        }
    }
}

/// The `jwt` target reaches the claim checks only if the corpus's token verifies: it is signed with the fixture's
/// key (`AuthFuzzing.Fixture.keyPEM`), valid at `Fixture.now`.
@Suite struct JWTCorpusTests {
    @Test func theCorpusTokenVerifiesAtTheFixtureInstant() throws {
        let file = CorpusReplayTests.fuzzRoot.appendingPathComponent("jwt/corpus/valid")
        let token = String(decoding: try Data(contentsOf: file).dropFirst(), as: UTF8.self)
        let result = AuthFuzzing.Fixture.shared.bearer.authenticate(token: Substring(token), now: AuthFuzzing.Fixture.now)
        guard case .authenticated(let identity) = result else {
            Issue.record("corpus token refused: \(result)")
            return
        }
        #expect(identity.user == "alice")
    }
}
