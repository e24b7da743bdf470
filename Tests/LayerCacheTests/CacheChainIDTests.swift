import OCIModel
import Testing
@testable import LayerCache

@Suite("ChainID (image-spec config.md)")
struct CacheChainIDTests {
    // Expected values computed independently (Python hashlib) from the definition:
    // ChainID(L0) = DiffID(L0); ChainID(L0|…|Ln) = sha256(ChainID(L0|…|Ln-1) + " " + DiffID(Ln)).
    let a = try! Digest(parsing: "sha256:589f0d58b9053a4ff7329b8fdb4f9dd120e29354c086ad0b3b10733f6cfd6de3")
    let b = try! Digest(parsing: "sha256:55fea2a37a9fc5963f1beccd0d162b856e6bd05ca07cdd3726847846ab740f0d")
    let c = try! Digest(parsing: "sha256:e6c65c655ca8172ab7a2b634dab3220a45472dd6571b6efd956ccc05e229a201")

    @Test func baseLayerChainIDIsItsDiffID() {
        #expect(ChainID.compute(diffIDs: [a]) == [a])
    }

    @Test func stackedLayersHashTheTextOfParentAndDiffID() throws {
        let chain = ChainID.compute(diffIDs: [a, b, c])
        #expect(chain.count == 3)
        #expect(chain[0] == a)
        #expect(chain[1] == (try Digest(parsing: "sha256:267c5fd16af60e52927fabf0a36a31f3b5a2069347f7f00c7bd7f93f6ebc01f4")))
        #expect(chain[2] == (try Digest(parsing: "sha256:82c0ed5f6c15be9b9180a8c04b9f2c676d74af6db13c711f5bb47a0fa43b56df")))
        #expect(ChainID.child(of: chain[1], diffID: c) == chain[2])
    }

    @Test func orderMattersAndEmptyIsEmpty() {
        #expect(ChainID.compute(diffIDs: []).isEmpty)
        #expect(ChainID.compute(diffIDs: [a, b]).last != ChainID.compute(diffIDs: [b, a]).last)
        // ChainID(C) != ChainID(A|B|C): the spec's motivating property.
        #expect(ChainID.compute(diffIDs: [a, b, c]).last != c)
    }
}
