import Foundation
import Glibc
import HTTPServer
import Synchronization

/// Keeps what a `LogWriter` writes, batch by batch.
final class MemoryLogSink: LogSink {
    private let state = Mutex<(bytes: [UInt8], batches: Int)>(([], 0))

    func write(_ bytes: UnsafeRawBufferPointer) {
        state.withLock {
            $0.bytes.append(contentsOf: bytes)
            $0.batches += 1
        }
    }

    var text: String { String(decoding: state.withLock { $0.bytes }, as: UTF8.self) }
    var batches: Int { state.withLock { $0.batches } }
    /// The lines written, without their newline.
    var lines: [String] { text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init) }
}

/// A destination that blocks (a stalled pipe) until released; says when the writer is stuck in it.
final class StalledLogSink: LogSink {
    let inner = MemoryLogSink()
    private let isReleased = Atomic<Bool>(false)
    private let waiting = Atomic<Bool>(false)

    func write(_ bytes: UnsafeRawBufferPointer) {
        waiting.store(true, ordering: .sequentiallyConsistent)
        while !isReleased.load(ordering: .sequentiallyConsistent) { usleep(1000) }
        inner.write(bytes)
    }

    var writerIsStuck: Bool { waiting.load(ordering: .sequentiallyConsistent) }
    func release() { isReleased.store(true, ordering: .sequentiallyConsistent) }
}

/// Parses one logfmt line as `LogLineBuilder` writes it: `key=value` pairs, values bare or quoted with `\"`, `\\`,
/// `\n`, `\r`, `\t`, `\uXXXX` and `\UXXXXXXXX` escapes. Nil when the line is malformed.
func parseLogfmt(_ line: String) -> [(key: String, value: String)]? {
    var scalars = Array(line.unicodeScalars)[...]
    var fields: [(key: String, value: String)] = []
    func token() -> String? {
        guard let first = scalars.first else { return nil }
        if first != "\"" {
            var out = String.UnicodeScalarView()
            while let s = scalars.first, s != " ", s != "=" { out.append(s); scalars.removeFirst() }
            return out.isEmpty ? nil : String(out)
        }
        scalars.removeFirst()
        var out = String.UnicodeScalarView()
        while let s = scalars.popFirst() {
            switch s {
            case "\"": return String(out)
            case "\\":
                guard let e = scalars.popFirst() else { return nil }
                switch e {
                case "\"", "\\": out.append(e)
                case "n": out.append("\n")
                case "r": out.append("\r")
                case "t": out.append("\t")
                case "u", "U":
                    let n = e == "u" ? 4 : 8
                    guard scalars.count >= n, let v = UInt32(String(String.UnicodeScalarView(scalars.prefix(n))), radix: 16),
                          let scalar = Unicode.Scalar(v) else { return nil }
                    scalars.removeFirst(n)
                    out.append(scalar)
                default: return nil
                }
            default:
                // A raw control or format character inside a quoted value is a defect too.
                if s.value < 0x20 { return nil }
                out.append(s)
            }
        }
        return nil
    }
    while !scalars.isEmpty {
        guard let key = token(), scalars.popFirst() == "=", let value = token() else { return nil }
        fields.append((key, value))
        if let s = scalars.popFirst(), s != " " { return nil }
    }
    return fields
}

/// Each logfmt line as a dictionary (the first of a repeated key wins); malformed lines are left out.
func logfmtFields(_ lines: [String]) -> [[String: String]] {
    lines.compactMap { line -> [String: String]? in
        guard let pairs = parseLogfmt(line) else { return nil }
        var fields: [String: String] = [:]
        for pair in pairs where fields[pair.key] == nil { fields[pair.key] = pair.value }
        return fields
    }
}

/// One JSON object per line, as a dictionary; nil when the line is not one.
func parseJSONLine(_ line: String) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
}

func makeRecord(user: String? = "alice", target: String = "/v2/app/manifests/v1", status: Int = 200,
                note: String? = nil, isSecure: Bool = false) -> ExchangeRecord {
    ExchangeRecord(method: "GET", target: target, status: status, bytesReceived: 12, bytesSent: 345,
                   durationNanos: 1_234_567, peer: "127.0.0.1:40000", isSecure: isSecure,
                   context: ResponseContext(user: user, route: "manifest", repository: "app", reference: "v1"),
                   note: note)
}
