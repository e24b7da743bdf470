import CLinuxShim
import Glibc
import SystemIO

extension Connection {
    /// As `send(2)`: through OpenSSL on a TLS connection.
    private func transmit(_ bytes: UnsafeRawPointer, _ count: Int) -> Int {
        if let tls { return tls.write(bytes, count) }
        return Glibc.send(fd, bytes, count, swshim_MSG_NOSIGNAL)
    }

    /// Writes all of `bytes`, waiting for the socket when its buffer is full.
    func write(_ bytes: [UInt8]) async throws {
        loop.assertInLoop()
        var offset = 0
        while offset < bytes.count {
            if isClosed { throw SystemError("write", errno: ECONNRESET) }
            let n = bytes.withUnsafeBytes { raw in transmit(raw.baseAddress! + offset, raw.count - offset) }
            if n >= 0 {
                offset += n
            } else {
                try await writeFailed()
            }
        }
    }

    /// Writes `count` bytes at `bytes`, which must stay valid until this returns (the connection's file buffer).
    private func write(_ bytes: UnsafeRawPointer, count: Int) async throws {
        var offset = 0
        while offset < count {
            if isClosed { throw SystemError("write", errno: ECONNRESET) }
            let n = transmit(bytes + offset, count - offset)
            if n >= 0 {
                offset += n
            } else {
                try await writeFailed()
            }
        }
    }

    /// After a write returned -1: waits for room on EAGAIN, returns on EINTR, throws on anything else.
    private func writeFailed() async throws {
        let e = errno
        if e == EINTR { return }
        guard e == EAGAIN else {
            if e == EPROTO, let tls { throw TLSError("TLS write: \(tls.lastError)") }
            throw SystemError("send", errno: e)
        }
        try await waitWritable()
    }

    /// Sends `length` bytes of a file: with `sendfile` on a plain connection, and over TLS with kTLS's
    /// `SSL_sendfile` (also zero-copy); without kTLS, read into the connection's buffer and encrypted from there,
    /// one buffer at a time, never the whole file in memory.
    func sendFile(_ file: SharedFileDescriptor, offset: Int64, length: Int64) async throws {
        loop.assertInLoop()
        if let tls, !tls.kernelSend {
            try await sendFileThroughBuffer(file, offset: offset, length: length)
            return
        }
        var position = offset
        let end = offset + length
        while position < end {
            if isClosed { throw SystemError("sendfile", errno: ECONNRESET) }
            let chunk = Int(min(end - position, 1 << 30))
            let n: Int
            if let tls {
                n = tls.sendFile(file.rawValue, offset: position, count: chunk)
                if n > 0 { position += Int64(n) }
            } else {
                n = swshim_sendfile(fd, file.rawValue, &position, chunk)
            }
            if n > 0 { continue }
            if n == 0 { throw SystemError("sendfile: file shorter than expected", errno: EIO) }
            let e = errno
            if e == EINTR { continue }
            guard e == EAGAIN else {
                if e == EPROTO, let tls { throw TLSError("TLS sendfile: \(tls.lastError)") }
                throw SystemError("sendfile", errno: e)
            }
            try await waitWritable()
        }
    }

    private func sendFileThroughBuffer(_ file: SharedFileDescriptor, offset: Int64, length: Int64) async throws {
        let buffer: UnsafeMutableRawBufferPointer
        if let fileBuffer {
            buffer = fileBuffer
        } else {
            buffer = .allocate(byteCount: Self.fileBufferSize, alignment: 4096)
            fileBuffer = buffer
        }
        var position = offset
        let end = offset + length
        while position < end {
            let n = pread(file.rawValue, buffer.baseAddress, Int(min(end - position, Int64(buffer.count))), off_t(position))
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("pread", errno: errno)
            }
            if n == 0 { throw SystemError("pread: file shorter than expected", errno: EIO) }
            try await write(UnsafeRawPointer(buffer.baseAddress!), count: n)
            position += Int64(n)
        }
    }

    func waitWritable() async throws {
        loop.assertInLoop()
        writeStalledSince = loop.now
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            writeWaiter = continuation
            interestMayHaveChanged()
        }
    }
}
