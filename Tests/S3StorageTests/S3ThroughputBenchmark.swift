import Glibc
import OCIModel
import Testing
import TestSupport
@testable import S3Storage

/// The S3Client side of bench/s3_blob.sh: a streamed PUT and GET of `SWREGISTRY_S3_BENCH_BYTES` (1 GiB) against
/// RGW, printing MiB/s. Runs only when bench/s3_blob.sh sets `SWREGISTRY_S3_BENCH`.
@Suite("S3 throughput", .offCooperativePool, .enabled(if: S3TestEnvironment.variable("SWREGISTRY_S3_BENCH") != nil))
struct S3ThroughputBenchmark {
    @Test("1 GiB PUT and GET through S3Client")
    func throughput() throws {
        let s3 = try S3TestEnvironment.client()
        let size = Int64(S3TestEnvironment.variable("SWREGISTRY_S3_BENCH_BYTES") ?? "") ?? (1 << 30)
        let key = S3TestEnvironment.randomPrefix("bench") + "/blob"
        // The body comes from one 1 MiB buffer, as a registry's receive buffers would, never the whole blob.
        let block = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }
        var sent: Int64 = 0
        let putStart = ContinuousClock.now
        try s3.putObject(key, length: size) { buffer in
            let n = Int(min(Int64(buffer.count), size - sent))
            var done = 0
            while done < n {
                let offset = Int((sent + Int64(done)) % Int64(block.count))
                let count = min(n - done, block.count - offset)
                block.withUnsafeBytes { source in
                    (buffer.baseAddress! + done).copyMemory(from: source.baseAddress! + offset, byteCount: count)
                }
                done += count
            }
            sent += Int64(n)
            return n
        }
        let put = ContinuousClock.now - putStart
        var received: Int64 = 0
        let getStart = ContinuousClock.now
        try s3.getObject(key) { received += Int64($0.count) }
        let get = ContinuousClock.now - getStart
        try s3.deleteObject(key)
        #expect(received == size)
        func rate(_ duration: Duration) -> Double {
            let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
            return Double(size) / 1_048_576 / seconds
        }
        print("S3CLIENT_PUT_MIBS \(Int(rate(put)))")
        print("S3CLIENT_GET_MIBS \(Int(rate(get)))")
    }
}
