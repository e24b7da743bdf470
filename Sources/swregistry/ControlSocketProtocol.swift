import Foundation

/// What goes over the control socket (`<storage>/.control.sock`), one connection per command:
///
/// - The CLI sends one line: the command line as a JSON array of strings, the command's name first
///   (`["verify","--repair","library/ubuntu"]`), then `\n`; at most `maxRequestBytes`, within `requestTimeout`.
/// - The server answers with lines, then closes:
///   - `line <text>`: a line of the report, for standard output;
///   - `progress <done> <total or -> <what>`: for a progress display on the CLI's terminal;
///   - `exit <status>`: the command's exit status, last.
///
/// Text lines, so that `socat - UNIX-CONNECT:<storage>/.control.sock` is enough to look at it.
enum ControlSocketProtocol {
    static let maxRequestBytes = 64 << 10
    /// Seconds a client has to send its request once connected.
    static let requestTimeout = 10
    /// The longest answer line a client accepts (a report line is far shorter).
    static let maxResponseLine = 1 << 20

    static func encodeRequest(_ arguments: [String]) -> [UInt8] {
        // An array of strings always encodes.
        Array(try! JSONEncoder().encode(arguments)) + [UInt8(ascii: "\n")]
    }

    /// The command line of a request line (without its newline); nil when it is not a non-empty JSON array of
    /// strings.
    static func decodeRequest(_ line: [UInt8]) -> [String]? {
        guard let arguments = try? JSONDecoder().decode([String].self, from: Data(line)), !arguments.isEmpty else {
            return nil
        }
        return arguments
    }

    /// One answer line; a newline inside `text` would end the line early, so line breaks become spaces.
    static func answer(_ kind: String, _ text: String) -> [UInt8] {
        var bytes = Array(kind.utf8) + [UInt8(ascii: " ")]
        bytes += text.utf8.map { $0 == 10 || $0 == 13 ? UInt8(ascii: " ") : $0 }
        bytes.append(10)
        return bytes
    }
}
