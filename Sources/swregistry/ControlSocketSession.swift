import ArgumentParser
import Glibc
import Logging
import SystemIO

/// One connection to the control socket: reads the request, runs the command, answers, closes.
final class ControlSocketSession: Sendable {
    let fd: Int32
    let socket: ControlSocket
    let output: ControlSocketOutput

    init(fd: Int32, socket: ControlSocket) {
        self.fd = fd
        self.socket = socket
        output = ControlSocketOutput(fd: fd)
    }

    /// Answers an error line and exit status 2 without reading the request, and closes.
    func refuse(_ reason: String) {
        output.line("swregistry: \(reason)")
        output.finish(2)
        close(fd)
    }

    /// Reads the request and runs it; closes the connection.
    func serve(_ peer: PeerCredentials) {
        defer { close(fd) }
        guard let arguments = readRequest() else {
            output.line("swregistry: malformed request: expected one line holding a JSON array of strings "
                + "(at most \(ControlSocketProtocol.maxRequestBytes) bytes, within \(ControlSocketProtocol.requestTimeout) s)")
            output.finish(2)
            return
        }
        output.finish(run(arguments, peer))
    }

    /// Parses and runs a command line. - Returns: the exit status.
    private func run(_ arguments: [String], _ peer: PeerCredentials) -> Int32 {
        let name = arguments[0]
        guard let type = socket.commands.first(where: { $0._commandName == name }) else {
            let known = socket.commands.map { $0._commandName }.joined(separator: ", ")
            output.line("swregistry: the server does not run \"\(name)\" (it runs: \(known))")
            return 2
        }
        let parsed: any ParsableCommand
        do {
            parsed = try type.parseAsRoot(Array(arguments.dropFirst()))
        } catch {
            // The CLI parsed the same line before sending it: this is a hand-made request or another version.
            for line in type.fullMessage(for: error).split(separator: "\n", omittingEmptySubsequences: false) {
                output.line(String(line))
            }
            return type.exitCode(for: error).rawValue
        }
        guard let command = parsed as? any StoreCommand else {
            output.line("swregistry: \"\(name)\" is not a store command")
            return 2
        }
        let started = socket.state.withLock { s in s.running.insert(name).inserted }
        guard started else {
            output.line("swregistry \(name): another \(name) is running in the server; try again when it is done")
            return 2
        }
        defer { _ = socket.state.withLock { $0.running.remove(name) } }

        let logger = socket.logger
        logger.notice("control: running \(arguments.joined(separator: " ")) for uid \(peer.uid) (pid \(peer.pid))")
        let output = output, socket = socket
        let context = socket.makeContext(output) { output.clientGone || socket.isStopping }
        let status: Int32
        do {
            status = try command.execute(context)
        } catch {
            output.line("swregistry \(name): \(describeStoreCommandError(error))")
            status = 2
        }
        logger.notice("control: \(name) finished with status \(status)\(output.clientGone ? " (its client had gone)" : "")")
        return status
    }

    /// The request's command line; nil when it is malformed, too long, or too slow to come.
    private func readRequest() -> [String]? {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let deadline = time(nil) + ControlSocketProtocol.requestTimeout
        while received.count <= ControlSocketProtocol.maxRequestBytes {
            if let newline = received.firstIndex(of: 10) {
                return ControlSocketProtocol.decodeRequest(Array(received[..<newline]))
            }
            // Each read waits at most the receive timeout; the deadline bounds a client that trickles bytes.
            guard time(nil) <= deadline else { return nil }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            received += chunk[0..<n]
        }
        return nil
    }
}
