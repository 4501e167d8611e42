import Glibc

/// An exclusive `flock` on a lock file, held until released or the process ends
/// (the kernel drops it on exit, so a killed holder never wedges the device).
public struct FileLock: Sendable {
    private let descriptor: FileDescriptor

    /// Takes the lock, polling for up to `timeout` seconds (0: try once).
    public static func acquire(path: String, timeout: Double, what: String) throws(SlotError) -> FileLock {
        let fd = try FileDescriptor.open(path, [.readWrite, .create], mode: 0o644)
        let deadline = monotonicSeconds() + max(timeout, 0)
        do throws(SlotError) {
            while true {
                if try fd.lockExclusive(wait: false) { return FileLock(descriptor: fd) }
                if monotonicSeconds() >= deadline {
                    throw SlotError(.lockHeld, "\(what) is locked by another slotctl process (\(path)); waited \(Int(timeout)) s")
                }
                usleep(20_000)
            }
        } catch {
            fd.close()
            throw error
        }
    }

    public func release() {
        descriptor.close()
    }

    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
