import FoundationEssentials
import Glibc
import SlotCore

/// `slotctl daemon`: checks every `[update] interval` seconds (±10 % jitter,
/// so a fleet does not call in lockstep), installs what it is offered, and
/// reports. After a failure it backs off exponentially up to `max-backoff`.
/// It never reboots on its own unless `[update] reboot = true`.
public struct UpdateDaemon: Sendable {
    public let engine: UpdateEngine
    public let interval: TimeInterval
    public let maxBackoff: TimeInterval
    public let reboot: Bool
    public let rebootCommand: String

    public init(engine: UpdateEngine, interval: TimeInterval? = nil) {
        let update = engine.manager.config.update
        self.engine = engine
        self.interval = interval ?? TimeInterval(update.interval)
        self.maxBackoff = TimeInterval(update.maxBackoff)
        self.reboot = update.rebootAfterUpdate
        self.rebootCommand = update.rebootCommand
    }

    /// The delay before the next check: the interval after success, doubling
    /// from a minute after consecutive failures; both with jitter.
    public func delay(afterFailures failures: Int) -> TimeInterval {
        let base = failures == 0 ? interval : min(maxBackoff, min(interval, 60) * pow(2, Double(failures - 1)))
        return base * Double.random(in: 0.9...1.1)
    }

    /// Runs forever (or `cycles` times), logging one line per cycle.
    public func run(cycles: Int? = nil, log: @Sendable (String) -> Void) async {
        var failures = 0
        var done = 0
        var retryAfter: Int?
        while cycles.map({ done < $0 }) ?? true {
            done += 1
            do {
                switch try await engine.update() {
                case .upToDate:
                    log("up to date")
                case .installed(let release, let slot):
                    log("installed \(release.version) into slot \(slot); ready to reboot")
                    if reboot {
                        log("rebooting: \(rebootCommand)")
                        switch ShellCommand.run(rebootCommand) {
                        case nil: log("cannot run the reboot command: /bin/sh did not start")
                        case let status? where status != 0: log("the reboot command exited with status \(status)")
                        default: break
                        }
                    }
                }
                failures = 0
            } catch {
                failures += 1
                retryAfter = RetryAfter.hint(in: error)
                log("update failed (\(failures) in a row): \(error)")
            }
            if let cycles, done >= cycles { break }
            let wait = max(delay(afterFailures: failures), Double(retryAfter ?? 0))
            retryAfter = nil
            try? await Task.sleep(nanoseconds: UInt64(wait * 1e9))
        }
    }
}
