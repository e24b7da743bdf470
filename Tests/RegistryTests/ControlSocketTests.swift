import ArgumentParser
import BlobStore
import Glibc
import Logging
import RegistryConfig
import StoreMaintenance
import Synchronization
import SystemIO
import Testing
import TestSupport
@testable import swregistry

/// The control socket in this process, with a command that runs until told to stop: one command of a kind at a
/// time, a client that goes away cancels its command, and so does stopping the socket.
@Suite(.serialized) struct ControlSocketTests {
    /// What the test command saw; one per test (the command type is static, so the tests run one at a time).
    final class Probe: Sendable {
        let started = Atomic<Int>(0)
        let cancelled = Atomic<Int>(0)
        let release = Atomic<Bool>(false)
    }
    nonisolated(unsafe) static var probe = Probe()

    /// Runs until released or cancelled; exit status 3 when released, 4 when cancelled.
    struct HoldCommand: StoreCommand {
        static let configuration = CommandConfiguration(commandName: "hold")
        @Option var config: String?

        func execute(_ context: StoreCommandContext) throws -> Int32 {
            let probe = ControlSocketTests.probe
            probe.started.add(1, ordering: .sequentiallyConsistent)
            context.output.line("holding")
            for _ in 0..<1000 {
                if context.isCancelled() {
                    probe.cancelled.add(1, ordering: .sequentiallyConsistent)
                    return 4
                }
                if probe.release.load(ordering: .sequentiallyConsistent) { return 3 }
                usleep(10_000)
            }
            return 5
        }
    }

    final class Fixture {
        let root = makeTemporaryDirectory(prefix: "swr-control")
        let socket: ControlSocket
        var path: String { root + "/.control.sock" }

        init() throws {
            let store = try BlobStore(root: root)
            let configuration = try Configuration.load(file: nil, environment: [:], flags: [])
            var logger = Logger(label: "control-test")
            logger.logLevel = .critical
            let quiet = logger
            socket = try ControlSocket(path: root + "/.control.sock", commands: [HoldCommand.self, DUCommand.self],
                                       logger: logger) { output, isCancelled in
                StoreCommandContext(store: store, configuration: configuration, output: output, insideServer: true,
                                    isCancelled: isCancelled, logger: quiet)
            }
        }

        deinit {
            socket.stop(grace: 1)
            FileSystem.removeTree(root)
        }

        /// Connects and sends a command line; the caller reads or closes.
        func send(_ arguments: [String]) throws -> Int32 {
            let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            try ControlSocketAddress.connect(fd, path)
            try FileSystem.writeAll(fd, ControlSocketProtocol.encodeRequest(arguments))
            return fd
        }

        /// Reads answer lines until the connection closes.
        func answer(_ fd: Int32) -> [String] {
            defer { close(fd) }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(fd, &chunk, chunk.count)
                if n <= 0 { break }
                bytes += chunk[0..<n]
            }
            return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        }
    }

    func waitUntil(_ condition: () -> Bool) -> Bool {
        for _ in 0..<500 {
            if condition() { return true }
            usleep(10_000)
        }
        return false
    }

    @Test func oneCommandOfAKindAtATime() throws {
        Self.probe = Probe()
        let fixture = try Fixture()
        let first = try fixture.send(["hold"])
        #expect(waitUntil { Self.probe.started.load(ordering: .sequentiallyConsistent) == 1 })
        #expect(fixture.answer(try fixture.send(["hold"])) == ["line swregistry hold: another hold is running in the server; try again when it is done", "exit 2"])
        // Another kind runs meanwhile.
        #expect(fixture.answer(try fixture.send(["du", "--json"])).last == "exit 0")
        Self.probe.release.store(true, ordering: .sequentiallyConsistent)
        #expect(fixture.answer(first) == ["line holding", "exit 3"])
        // Done: the next one may run.
        #expect(fixture.answer(try fixture.send(["hold"])) == ["line holding", "exit 3"])
    }

    @Test func aClientThatGoesAwayCancelsItsCommand() throws {
        Self.probe = Probe()
        let fixture = try Fixture()
        let fd = try fixture.send(["hold"])
        #expect(waitUntil { Self.probe.started.load(ordering: .sequentiallyConsistent) == 1 })
        close(fd)
        #expect(waitUntil { Self.probe.cancelled.load(ordering: .sequentiallyConsistent) == 1 })
        // And the kind is free again.
        Self.probe.release.store(true, ordering: .sequentiallyConsistent)
        #expect(waitUntil { fixture.socket.state.withLock { $0.sessions } == 0 })
        #expect(fixture.answer(try fixture.send(["hold"])) == ["line holding", "exit 3"])
    }

    @Test func stoppingCancelsRunningCommandsAndRemovesTheSocket() throws {
        Self.probe = Probe()
        let fixture = try Fixture()
        let fd = try fixture.send(["hold"])
        #expect(waitUntil { Self.probe.started.load(ordering: .sequentiallyConsistent) == 1 })
        fixture.socket.stop(grace: 5)
        #expect(Self.probe.cancelled.load(ordering: .sequentiallyConsistent) == 1)
        #expect(fixture.answer(fd) == ["line holding", "exit 4"], "the client hears how it ended")
        #expect(!FileSystem.exists(fixture.path))
    }

    /// A socket left by a server that died is replaced; anything else at the path is left alone.
    @Test func staleSocketIsReplacedOtherFilesAreNot() throws {
        let root = makeTemporaryDirectory(prefix: "swr-control-stale")
        defer { FileSystem.removeTree(root) }
        let store = try BlobStore(root: root)
        let configuration = try Configuration.load(file: nil, environment: [:], flags: [])
        let make = { () throws(SystemError) -> ControlSocket in
            try ControlSocket(path: root + "/.control.sock", commands: [DUCommand.self], logger: Logger(label: "t")) { output, isCancelled in
                StoreCommandContext(store: store, configuration: configuration, output: output, insideServer: true,
                                    isCancelled: isCancelled, logger: Logger(label: "t"))
            }
        }
        // A bound socket whose server is gone.
        let stale = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try ControlSocketAddress.bind(stale, root + "/.control.sock")
        close(stale)
        let socket = try make()
        socket.stop()

        try FileSystem.writeAtomically([1], to: root + "/.control.sock", tmpDirectory: root + "/tmp")
        #expect(throws: SystemError.self) { _ = try make() }
        #expect(FileSystem.fileSize(root + "/.control.sock") == 1)
    }
}
