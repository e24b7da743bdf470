import CLinuxShim
import Glibc
import SystemIO

extension Connection {
    /// Writes all of `bytes`, waiting for the socket when its buffer is full.
    func write(_ bytes: [UInt8]) async throws {
        var offset = 0
        while offset < bytes.count {
            if isClosed { throw SystemError("write", errno: ECONNRESET) }
            let n = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, swshim_MSG_NOSIGNAL)
            }
            if n >= 0 {
                offset += n
            } else {
                let e = errno
                if e == EINTR { continue }
                guard e == EAGAIN else { throw SystemError("send", errno: e) }
                try await waitWritable()
            }
        }
    }

    /// Sends `length` bytes of a file with `sendfile`, never copying them through user space.
    func sendFile(_ file: SharedFileDescriptor, offset: Int64, length: Int64) async throws {
        var position = offset
        let end = offset + length
        while position < end {
            if isClosed { throw SystemError("sendfile", errno: ECONNRESET) }
            let n = swshim_sendfile(fd, file.rawValue, &position, Int(min(end - position, 1 << 30)))
            if n > 0 { continue }
            if n == 0 { throw SystemError("sendfile: file shorter than expected", errno: EIO) }
            let e = errno
            if e == EINTR { continue }
            guard e == EAGAIN else { throw SystemError("sendfile", errno: e) }
            try await waitWritable()
        }
    }

    func waitWritable() async throws {
        writeStalledSince = loop.now
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            writeWaiter = continuation
            interestMayHaveChanged()
        }
    }
}
