import Foundation
import Testing
@testable import OCIModel

@Suite("ResumableSHA256")
struct ResumableSHA256Tests {
    /// Deterministic pseudo-random bytes and split points (SplitMix64), so a failure names a reproducible case.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) } }
    }

    @Test("known vectors: empty, abc, a million 'a's")
    func vectors() {
        #expect(ResumableSHA256().finalize().encoded
            == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        var abc = ResumableSHA256()
        abc.update(bytes("abc"))
        #expect(abc.byteCount == 3)
        #expect(abc.finalize().encoded == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var million = ResumableSHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { million.update(chunk) }
        #expect(million.finalize().encoded == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("random splits give DigestHasher's digest", arguments: 0..<20)
    func randomSplits(seed: UInt64) {
        var random = Generator(state: seed)
        let input = random.bytes(Int.random(in: 0...70_000, using: &random))
        let expected = DigestHasher()
        expected.update(input)
        var hash = ResumableSHA256()
        var offset = 0
        while offset < input.count {
            let end = min(input.count, offset + Int.random(in: 0...9_000, using: &random))
            hash.update(input[offset..<end])
            offset = end
        }
        #expect(hash.byteCount == Int64(input.count))
        #expect(hash.finalize() == expected.finalize(), "seed \(seed), \(input.count) bytes")
    }

    @Test("saved and restored at random points, the digest is unchanged", arguments: 0..<20)
    func saveRestore(seed: UInt64) {
        var random = Generator(state: 1000 + seed)
        let input = random.bytes(Int.random(in: 0...50_000, using: &random))
        var hash = ResumableSHA256()
        var offset = 0
        while offset < input.count {
            let end = min(input.count, offset + Int.random(in: 0...3_000, using: &random))
            hash.update(input[offset..<end])
            offset = end
            let state = hash.state()
            #expect(state.count == 49 + offset % 64)
            guard let restored = ResumableSHA256(state: state) else {
                Issue.record("state at \(offset) refused")
                return
            }
            #expect(restored.byteCount == Int64(offset))
            #expect(restored.state() == state)
            hash = restored
        }
        #expect(hash.finalize() == Digest.sha256(of: input), "seed \(seed)")
    }

    @Test("every offset within and around a block restores exactly")
    func everyOffset() {
        let input = (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        for split in 0...input.count {
            var first = ResumableSHA256()
            first.update(input[..<split])
            var second = ResumableSHA256(state: first.state())!
            second.update(input[split...])
            #expect(second.finalize() == Digest.sha256(of: input), "split at \(split)")
        }
    }

    @Test("finalize does not end the computation; copies fork it")
    func finalizeAndFork() {
        var hash = ResumableSHA256()
        hash.update(bytes("ab"))
        let fork = hash
        #expect(hash.finalize() == Digest.sha256(of: bytes("ab")))
        hash.update(bytes("c"))
        #expect(hash.finalize() == Digest.sha256(of: bytes("abc")))
        #expect(fork.finalize() == Digest.sha256(of: bytes("ab")))
    }

    @Test("the format is fixed: a state written today restores tomorrow")
    func fixedFormat() {
        var hash = ResumableSHA256()
        hash.update(bytes("abc"))
        let state = hash.state()
        #expect(Array(state[0..<5]) == Array("SWH2".utf8) + [1])
        #expect(Array(state[5..<13]) == [3, 0, 0, 0, 0, 0, 0, 0])
        // The initial chaining words (FIPS 180-4 §5.3.3), little-endian, since "abc" filled no block.
        #expect(Array(state[13..<17]) == [0x67, 0xE6, 0x09, 0x6A])
        #expect(Array(state[45..<48]) == bytes("abc"))
        #expect(state.count == 52)
    }

    @Test("malformed states are refused")
    func malformed() {
        var hash = ResumableSHA256()
        hash.update([UInt8](repeating: 7, count: 100))
        let good = hash.state()
        #expect(ResumableSHA256(state: good) != nil)
        #expect(ResumableSHA256(state: []) == nil)
        #expect(ResumableSHA256(state: Array(good.dropLast())) == nil)
        #expect(ResumableSHA256(state: good + [0]) == nil)
        #expect(ResumableSHA256(state: [UInt8](repeating: 0, count: 200)) == nil)
        // Every single-bit flip is caught (magic, version, count, words, pending bytes, check).
        for index in good.indices {
            for bit in 0..<8 {
                var bad = good
                bad[index] ^= UInt8(1 << bit)
                #expect(ResumableSHA256(state: bad) == nil, "flip of bit \(bit) at \(index) accepted")
            }
        }
        // A count that disagrees with the pending block, re-checksummed so that only the count is wrong.
        var wrongCount = Array(good[..<(good.count - 4)])
        wrongCount[5] &+= 1
        #expect(ResumableSHA256(state: wrongCount + ResumableSHA256Tests.check(wrongCount)) == nil)
        // A count past SHA-256's 2^61 - 1 bytes with a consistent pending length.
        var huge = Array(good[..<(good.count - 4)])
        huge.replaceSubrange(5..<13, with: [100, 0, 0, 0, 0, 0, 0, 0x20])
        #expect(ResumableSHA256(state: huge + ResumableSHA256Tests.check(huge)) == nil)
        // Random garbage of every plausible length never crashes and is refused.
        var random = Generator(state: 99)
        for length in 0..<130 {
            #expect(ResumableSHA256(state: random.bytes(length)) == nil)
        }
    }

    /// The first 4 bytes of SHA-256, as the format's check.
    static func check(_ bytes: [UInt8]) -> [UInt8] {
        var hash = ResumableSHA256()
        hash.update(bytes)
        let hex = Array(hash.finalize().encoded.utf8)
        return (0..<4).map { UInt8(String(decoding: hex[2 * $0..<2 * $0 + 2], as: UTF8.self), radix: 16)! }
    }

    /// Same block function as DigestHasher (OpenSSL's SHA-NI/AVX2 assembly): a portable C fallback would run at a
    /// fraction of its speed. Best of 3 over 128 MiB each; the bound is loose because the machine is shared.
    @Test("runs as fast as DigestHasher")
    func speed() {
        let buffer = [UInt8](repeating: 0x5A, count: 1 << 20)
        func measure(_ body: () -> Void) -> Double {
            var best = Double.infinity
            for _ in 0..<3 {
                let start = ContinuousClock.now
                body()
                let elapsed = ContinuousClock.now - start
                best = min(best, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            }
            return 128 / best
        }
        let evp = measure {
            let hasher = DigestHasher()
            buffer.withUnsafeBytes { for _ in 0..<128 { hasher.update($0) } }
            _ = hasher.finalize()
        }
        let resumable = measure {
            var hash = ResumableSHA256()
            buffer.withUnsafeBytes { for _ in 0..<128 { hash.update($0) } }
            _ = hash.finalize()
        }
        print("SHA-256 MiB/s: DigestHasher \(Int(evp)), ResumableSHA256 \(Int(resumable))")
        #expect(resumable > evp * 0.6, "ResumableSHA256 \(Int(resumable)) MiB/s vs DigestHasher \(Int(evp)) MiB/s")
    }
}
