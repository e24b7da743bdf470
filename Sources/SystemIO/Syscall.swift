import Glibc

/// The outcome of a non-blocking call: would-block is a value, not an error.
public enum IOResult<T> {
    case processed(T)
    case wouldBlock
}

/// Runs a system call, retrying on `EINTR` and turning `EAGAIN` into `.wouldBlock`.
///
/// `errno` is read right after the call, before anything else can overwrite it. `EBADF` and `EFAULT` mean a bug
/// in this program (a closed or foreign descriptor, a bad pointer), so they stop it rather than travel as errors.
/// - Throws: `SystemError` for every other failure.
@inline(__always)
public func syscall<T: FixedWidthInteger>(_ name: StaticString, _ body: () -> T) throws(SystemError) -> IOResult<T> {
    while true {
        let r = body()
        if r != -1 { return .processed(r) }
        let e = errno
        switch e {
        case EINTR: continue
        case EAGAIN: return .wouldBlock
        default:
            precondition(e != EBADF && e != EFAULT, "\(name): descriptor bug (errno \(e))")
            throw SystemError("\(name)", errno: e)
        }
    }
}

/// Runs a blocking system call, retrying on `EINTR`.
/// - Throws: `SystemError` on failure (including `EAGAIN`).
@inline(__always)
@discardableResult
public func blockingSyscall<T: FixedWidthInteger>(_ name: StaticString, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let r = body()
        if r != -1 { return r }
        let e = errno
        if e == EINTR { continue }
        throw SystemError("\(name)", errno: e)
    }
}
