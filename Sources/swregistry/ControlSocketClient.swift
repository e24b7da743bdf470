import CLinuxShim
import Glibc
import StoreMaintenance
import SystemIO

/// The CLI's end of the control socket: sends a command line to the server that holds the store and relays its
/// answer (see `ControlSocketProtocol`).
enum ControlSocketClient {
    /// What went wrong with the exchange itself (not with the command, whose status is returned).
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `arguments` in the server listening on `path`.
    /// - Parameter output: where the report's lines and the progress go.
    /// - Returns: the command's exit status, as the server sent it.
    /// - Throws: `Failure` when there is nobody to talk to, or the answer ends before the exit status.
    static func run(_ arguments: [String], socket path: String, output: any MaintenanceOutput) throws(Failure) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "\(SystemError("socket", errno: errno))") }
        defer { close(fd) }
        do {
            try ControlSocketAddress.connect(fd, path)
        } catch {
            let why = switch error.errno {
            case ENOENT: "there is no control socket at \(path) (the store is held by another store command, or by a server older than this one)"
            case ECONNREFUSED: "nobody listens on \(path) (the server is stopping?)"
            default: "\(error)"
            }
            throw Failure(description: why)
        }
        // A server that refuses the connection answers and closes without reading: the request may then not be
        // sent whole (EPIPE, without the signal), but the answer is there to read all the same.
        let sendError = send(ControlSocketProtocol.encodeRequest(arguments), to: fd)
        var reader = LineReader(fd: fd)
        while let line = try reader.next() {
            let (kind, rest) = split(line)
            switch kind {
            case "line":
                output.line(rest)
            case "progress":
                let fields = rest.split(separator: " ", maxSplits: 2)
                guard fields.count == 3, let done = Int(fields[0]) else { continue }
                output.progress(done: done, total: Int(fields[1]), what: String(fields[2]))
            case "exit":
                guard let status = Int32(rest) else { throw Failure(description: "the server sent a bad exit status: \(rest)") }
                return status
            default:
                continue  // a kind a later version may add
            }
        }
        if let sendError { throw Failure(description: "sending the command: \(sendError)") }
        throw Failure(description: "the server closed the connection before the command finished (stopping?)")
    }

    /// Sends all of `bytes`. - Returns: the error that stopped it, nil when all was sent.
    private static func send(_ bytes: [UInt8], to fd: Int32) -> SystemError? {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, swshim_MSG_NOSIGNAL) }
            if n < 0 {
                if errno == EINTR { continue }
                return SystemError("send", errno: errno)
            }
            offset += n
        }
        return nil
    }

    private static func split(_ line: String) -> (String, String) {
        guard let space = line.firstIndex(of: " ") else { return (line, "") }
        return (String(line[..<space]), String(line[line.index(after: space)...]))
    }

    /// Lines read from a socket, without their newline.
    private struct LineReader {
        let fd: Int32
        var buffer: [UInt8] = []

        /// - Returns: the next line; nil at the end of the stream.
        mutating func next() throws(Failure) -> String? {
            var chunk = [UInt8](repeating: 0, count: 16 << 10)
            while true {
                if let newline = buffer.firstIndex(of: 10) {
                    let line = String(decoding: buffer[..<newline], as: UTF8.self)
                    buffer.removeSubrange(...newline)
                    return line
                }
                guard buffer.count <= ControlSocketProtocol.maxResponseLine else {
                    throw Failure(description: "the server sent a line longer than \(ControlSocketProtocol.maxResponseLine) bytes")
                }
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Failure(description: "reading the answer: \(SystemError("read", errno: errno))")
                }
                if n == 0 { return nil }
                buffer += chunk[0..<n]
            }
        }
    }
}
