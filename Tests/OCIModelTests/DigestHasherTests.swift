import Foundation
import Testing
@testable import OCIModel

@Suite("DigestHasher")
struct DigestHasherTests {
    @Test("hashes the empty input")
    func empty() {
        let hasher = DigestHasher()
        #expect(hasher.finalize().description
            == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let sha512 = DigestHasher(.sha512)
        sha512.update([UInt8]())
        #expect(sha512.finalize().description == "sha512:"
            + "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
            + "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e")
    }

    @Test("hashes \"abc\"")
    func abc() {
        let hasher = DigestHasher(.sha256)
        hasher.update(bytes("abc"))
        #expect(hasher.byteCount == 3)
        #expect(hasher.finalize().encoded == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("a million 'a's (FIPS 180-2 test vector)")
    func millionA() {
        let hasher = DigestHasher()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(chunk) }
        #expect(hasher.finalize().encoded == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// 10 MiB of `i % 251`; the expected value was computed with `sha256sum` when the test was
    /// written (`python3 -c '…bytes(i%251 for i in range(10<<20))' | sha256sum`).
    @Test("hashes 10 MiB in chunks and at once, matching sha256sum")
    func tenMebibytes() {
        let expected = "44f9296993796e201208c6c245b9515d36b62c87d0be4459ff347bfa054cd527"
        let size = 10 << 20
        var input = [UInt8](repeating: 0, count: size)
        for i in 0..<size { input[i] = UInt8(i % 251) }

        let chunked = DigestHasher()
        input.withUnsafeBytes { all in
            var offset = 0
            while offset < size {
                let end = min(offset + 65_521, size)  // an odd chunk size, so chunks straddle blocks
                chunked.update(UnsafeRawBufferPointer(rebasing: all[offset..<end]))
                offset = end
            }
        }
        #expect(chunked.byteCount == Int64(size))
        #expect(chunked.finalize().encoded == expected)

        #expect(Digest.sha256(of: input).encoded == expected)
        #expect(Digest.sha256(of: Data(input)).encoded == expected)
    }

    @Test("splitting the input at any offset gives the same digest")
    func everySplit() {
        let input = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let whole = Digest.sha256(of: input)
        for split in 0...input.count {
            let hasher = DigestHasher()
            hasher.update(input[..<split])
            hasher.update(input[split...])
            #expect(hasher.finalize() == whole, "split at \(split)")
        }
    }

    @Test("accepts non-contiguous sequences")
    func nonContiguous() {
        let hasher = DigestHasher()
        hasher.update((0..<3).lazy.map { UInt8(ascii: "a") + UInt8($0) })
        #expect(hasher.finalize() == Digest.sha256(of: bytes("abc")))
    }

    @Test("copy() snapshots the running state")
    func copySnapshots() {
        let hasher = DigestHasher()
        hasher.update(bytes("ab"))
        let snapshot = hasher.copy()
        hasher.update(bytes("c"))
        #expect(snapshot.byteCount == 2)
        #expect(snapshot.finalize() == Digest.sha256(of: bytes("ab")))
        #expect(hasher.finalize() == Digest.sha256(of: bytes("abc")))
    }

    @Test("an empty buffer is a no-op")
    func emptyBuffer() {
        let hasher = DigestHasher()
        hasher.update(UnsafeRawBufferPointer(start: nil, count: 0))
        hasher.update(bytes("abc"))
        #expect(hasher.finalize() == Digest.sha256(of: bytes("abc")))
    }
}
