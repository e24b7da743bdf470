@testable import HTTPServer
import Testing

@Suite struct RequestBodyTests {
    @Test func recycledBuffersCarryTheNextChunks() {
        let body = RequestBody(connection: nil, framing: .length(3))
        // Without a spare buffer, the last chunk of a body gets an allocation of its own size.
        let small: [UInt8] = [1, 2, 3]
        let fresh = small.withUnsafeBytes { body.makeChunk($0) }
        #expect(fresh == small)
        #expect(fresh.capacity < RequestBody.chunkCapacity)

        var big: [UInt8] = []
        big.reserveCapacity(RequestBody.chunkCapacity)
        big.append(contentsOf: [9, 9, 9, 9])
        body.recycle([big, fresh])  // the small one is too small to keep
        #expect(body.spareCount == 1)
        let reused = small.withUnsafeBytes { body.makeChunk($0) }
        #expect(reused == small, "a recycled buffer starts empty")
        #expect(reused.capacity >= RequestBody.chunkCapacity)
        #expect(body.spareCount == 0)
    }

    @Test func keepsABoundedNumberOfSpareBuffers() {
        let body = RequestBody(connection: nil, framing: .chunked)
        var buffers: [[UInt8]] = []
        for _ in 0..<(RequestBody.maxSpare + 5) {
            var b: [UInt8] = []
            b.reserveCapacity(RequestBody.chunkCapacity)
            buffers.append(b)
        }
        body.recycle(buffers)
        #expect(body.spareCount == RequestBody.maxSpare)
    }

    @Test func chunksOfABodyWithMoreToComeGetAWholeReadOfRoom() {
        let body = RequestBody(connection: nil, framing: .length(1 << 20))
        let first = [UInt8](repeating: 7, count: 1000).withUnsafeBytes { body.makeChunk($0) }
        #expect(first.count == 1000)
        #expect(first.capacity >= RequestBody.chunkCapacity, "room for the next reads once recycled")
    }
}
