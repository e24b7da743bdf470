import CLinuxShim
import Glibc

/// Readiness interest for one descriptor.
public struct EpollEvents: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let readable = EpollEvents(rawValue: swshim_EPOLLIN)
    public static let writable = EpollEvents(rawValue: swshim_EPOLLOUT)
    public static let error = EpollEvents(rawValue: swshim_EPOLLERR)
    public static let hangup = EpollEvents(rawValue: swshim_EPOLLHUP)
    public static let readHangup = EpollEvents(rawValue: swshim_EPOLLRDHUP)
    /// Wake only one of the epoll instances that wait on a shared descriptor (`add` only, never `modify`).
    public static let exclusive = EpollEvents(rawValue: swshim_EPOLLEXCLUSIVE)
}

/// A level-triggered epoll instance with an eventfd for wake-ups from other threads.
///
/// Each registration carries a 64-bit token in `data.u64`; owners put a generation number in it so that an event
/// for a descriptor closed and reused within one `epoll_wait` batch is recognised as stale and dropped.
public final class Epoll {
    public let fd: FileDescriptor
    private let wakeFD: FileDescriptor
    /// The token reserved for the wake-up eventfd.
    public static let wakeToken: UInt64 = .max
    private var events: [UInt32]
    private var tokens: [UInt64]

    public init(maxEvents: Int = 256) throws(SystemError) {
        fd = FileDescriptor(try blockingSyscall("epoll_create1") { swshim_epoll_create() })
        wakeFD = FileDescriptor(try blockingSyscall("eventfd") { swshim_eventfd() })
        events = [UInt32](repeating: 0, count: maxEvents)
        tokens = [UInt64](repeating: 0, count: maxEvents)
        try add(wakeFD.rawValue, events: .readable, token: Self.wakeToken)
    }

    public func add(_ target: Int32, events: EpollEvents, token: UInt64) throws(SystemError) {
        try blockingSyscall("epoll_ctl(ADD)") { swshim_epoll_ctl(fd.rawValue, swshim_EPOLL_CTL_ADD, target, events.rawValue, token) }
    }

    public func modify(_ target: Int32, events: EpollEvents, token: UInt64) throws(SystemError) {
        try blockingSyscall("epoll_ctl(MOD)") { swshim_epoll_ctl(fd.rawValue, swshim_EPOLL_CTL_MOD, target, events.rawValue, token) }
    }

    /// Removes a descriptor. Closing it would also do this, unless another process shares the open file.
    public func remove(_ target: Int32) {
        _ = swshim_epoll_ctl(fd.rawValue, swshim_EPOLL_CTL_DEL, target, 0, 0)
    }

    /// Waits for readiness.
    /// - Parameters:
    ///   - timeout: milliseconds, -1 for no limit.
    ///   - body: called once per ready descriptor with its token and events; the wake eventfd is drained here.
    public func wait(timeout: Int32, _ body: (UInt64, EpollEvents) -> Void) throws(SystemError) {
        let n = try blockingSyscall("epoll_wait") {
            events.withUnsafeMutableBufferPointer { ev in
                tokens.withUnsafeMutableBufferPointer { tk in
                    swshim_epoll_wait(fd.rawValue, ev.baseAddress, tk.baseAddress, Int32(ev.count), timeout)
                }
            }
        }
        for i in 0..<Int(n) {
            if tokens[i] == Self.wakeToken {
                var value: UInt64 = 0
                _ = read(wakeFD.rawValue, &value, 8)
                continue
            }
            body(tokens[i], EpollEvents(rawValue: events[i]))
        }
    }

    /// Wakes a thread blocked in `wait`. Safe from any thread.
    public func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD.rawValue, &one, 8)
    }
}
