import Foundation
import Glibc
import ImageTransport
import OCIModel
import Synchronization

/// Shows a copy's progress: on a terminal, one live line per blob in flight (bytes, total, speed) redrawn at
/// most ten times a second; otherwise (or with `--quiet`) plain log lines, one per finished blob.
final class ProgressDisplay: Sendable {
    enum Mode { case terminal, lines, quiet }

    private struct Blob {
        var descriptor: Descriptor
        var transferred: Int64 = 0
        var started: ContinuousClock.Instant
    }

    private struct State {
        var active: [Digest: Blob] = [:]
        var order: [Digest] = []
        var drawnLines = 0
        var lastDraw: ContinuousClock.Instant?
    }

    let mode: Mode
    private let state = Mutex(State())

    init(quiet: Bool) {
        if quiet {
            mode = .quiet
        } else {
            mode = isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb" ? .terminal : .lines
        }
    }

    /// The observer to hand to `Copier`.
    var observer: CopyObserver {
        { [self] event in handle(event) }
    }

    func handle(_ event: CopyEvent) {
        guard mode != .quiet else { return }
        let now = ContinuousClock.now
        state.withLock { state in
            var output = ""
            switch event {
            case .blobStarted(let descriptor):
                state.active[descriptor.digest] = Blob(descriptor: descriptor, started: now)
                state.order.append(descriptor.digest)
            case .blobProgress(let descriptor, let transferred):
                state.active[descriptor.digest]?.transferred = transferred
                if mode == .terminal, let last = state.lastDraw, now - last < .milliseconds(100) { return }
            case .blobFinished(let descriptor, let outcome):
                let blob = state.active.removeValue(forKey: descriptor.digest)
                state.order.removeAll { $0 == descriptor.digest }
                output += clearBlock(&state)
                output += finishedLine(descriptor, outcome, started: blob?.started ?? now, now: now) + "\n"
            case .manifestWritten(let manifest):
                output += clearBlock(&state)
                output += "Wrote manifest \(manifest.digest) (\(manifest.mediaType))\n"
            case .note(let text):
                output += clearBlock(&state)
                output += text + "\n"
            }
            if mode == .terminal {
                output += clearBlock(&state)
                for digest in state.order {
                    guard let blob = state.active[digest] else { continue }
                    output += activeLine(blob, now: now) + "\n"
                    state.drawnLines += 1
                }
                state.lastDraw = now
            }
            if !output.isEmpty { FileHandle.standardError.write(Data(output.utf8)) }
        }
    }

    /// Moves the cursor back over the live block and clears it.
    private func clearBlock(_ state: inout State) -> String {
        guard mode == .terminal, state.drawnLines > 0 else { return "" }
        let text = "\u{1B}[\(state.drawnLines)A\u{1B}[J"
        state.drawnLines = 0
        return text
    }

    private func activeLine(_ blob: Blob, now: ContinuousClock.Instant) -> String {
        let seconds = Self.seconds(now - blob.started)
        let speed = seconds > 0 ? Double(blob.transferred) / seconds : 0
        return "Copying blob \(Self.short(blob.descriptor.digest)) \(Self.bytes(blob.transferred)) / "
            + "\(Self.bytes(blob.descriptor.size)) \(Self.bytes(Int64(speed)))/s"
    }

    private func finishedLine(_ descriptor: Descriptor, _ outcome: BlobOutcome, started: ContinuousClock.Instant,
                              now: ContinuousClock.Instant) -> String {
        let kind = descriptor.mediaType.isImageConfig ? "config" : "blob"
        switch outcome {
        case .copied:
            let seconds = Self.seconds(now - started)
            let speed = seconds > 0 ? Self.bytes(Int64(Double(descriptor.size) / seconds)) + "/s" : "-"
            return "Copied \(kind) \(Self.short(descriptor.digest)) \(Self.bytes(descriptor.size)) in "
                + String(format: "%.2f s", seconds) + " (\(speed))"
        case .skipped: return "Skipped \(kind) \(Self.short(descriptor.digest)): already present"
        case .mounted: return "Mounted \(kind) \(Self.short(descriptor.digest)) from the source repository"
        }
    }

    static func short(_ digest: Digest) -> String { "\(digest.algorithm.rawValue):\(digest.encoded.prefix(12))" }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func bytes(_ count: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}
