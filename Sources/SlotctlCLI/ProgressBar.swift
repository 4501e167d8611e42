import Glibc
import Synchronization

/// A one-line progress bar on stderr, redrawn in place; silent off a TTY.
/// Updates may come from any thread.
public final class ProgressBar: Sendable {
    private let label: String
    private let enabled: Bool
    private let started = ProgressBar.now()
    private let lastDraw = Mutex(0.0)

    public init(label: String) {
        self.label = label
        enabled = Terminal.stderrIsTTY
    }

    public func update(done: UInt64, total: UInt64?) {
        guard enabled else { return }
        let now = Self.now()
        let due = lastDraw.withLock { last in
            guard now - last >= 0.1 || done == total else { return false }
            last = now
            return true
        }
        guard due else { return }
        let elapsed = max(now - started, 0.001)
        let rate = ByteFormat.format(UInt64(Double(done) / elapsed)) + "/s"
        var line = "\r\(label) "
        if let total, total > 0 {
            let fraction = min(Double(done) / Double(total), 1)
            let width = 30
            let filled = Int(fraction * Double(width))
            line += "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            line += "\(Int(fraction * 100))% \(ByteFormat.format(done))/\(ByteFormat.format(total)) \(rate)"
        } else {
            line += "\(ByteFormat.format(done)) \(rate)"
        }
        Terminal.writeStderr(line + "\u{1B}[K")
    }

    public func finish() {
        if enabled { Terminal.writeStderr("\n") }
    }

    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
