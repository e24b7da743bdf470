import Glibc
import SystemIO
import Testing
import TestSupport

/// `.offCooperativePool` (on the suites that block on S3, PostgreSQL or sockets) runs each test, synchronous or not,
/// on `OffPoolExecutor`'s threads rather than the cooperative pool's, and in its test's task, so that an `#expect`
/// there still counts for the test.
@Suite(.offCooperativePool) struct OffPoolTests {
    /// The calling thread's name, as the kernel has it (procfs files show size 0: read, not `FileSystem.read`).
    private static func threadName() throws -> String {
        let fd = open("/proc/thread-self/comm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open comm", errno: errno) }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 64)
        let n = read(fd, &bytes, bytes.count)
        guard n > 0 else { throw SystemError("read comm", errno: errno) }
        return String(decoding: bytes[0..<n].filter { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
    }

    @Test func aSynchronousTestRunsOnTheDedicatedThreads() throws {
        let thread = try Self.threadName()
        #expect(thread == OffPoolExecutor.threadName)
        #expect(Test.current?.name == "aSynchronousTestRunsOnTheDedicatedThreads()")
    }

    @Test func anAsynchronousTestStaysThereAcrossSuspensions() async throws {
        let before = try Self.threadName()
        try await Task.sleep(for: .milliseconds(20))
        let after = try Self.threadName()
        #expect([before, after] == [OffPoolExecutor.threadName, OffPoolExecutor.threadName])
        #expect(Test.current?.name == "anAsynchronousTestStaysThereAcrossSuspensions()")
    }
}
