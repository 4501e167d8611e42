import Glibc
import SlotCore
import Synchronization

/// What a `slotctl_t` points at: one configured system, the update the
/// update module runs for it, and the last failure's message.
///
/// Two locks, always taken in this order and never the other way round:
/// - `operations` serialises the calls that read or change the state or talk
///   to the server (status, boot, marks, paths, check, start), so they run one
///   at a time per handle, each from start to end;
/// - `shared` guards the fields below for moments only and is never held
///   across I/O, so progress, cancel and last-error answer at once even while
///   a check is waiting for the server or an update is streaming.
final class SlotctlHandle: Sendable {
    let manager: SlotManager
    private let operations = Mutex<Void>(())
    private let shared = Mutex<Shared>(Shared())

    private struct Shared {
        var lastError: String?
        /// The last update started (`slotctl_start_update`); keeps its progress.
        var update: ModuleUpdate?
    }

    init(manager: SlotManager) {
        self.manager = manager
    }

    // MARK: - Handle <-> pointer

    /// A +1 reference as the opaque C handle; `slotctl_close` releases it.
    func retainedPointer() -> OpaquePointer {
        OpaquePointer(Unmanaged.passRetained(self).toOpaque())
    }

    static func borrow(_ pointer: OpaquePointer) -> SlotctlHandle {
        Unmanaged<SlotctlHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
    }

    static func release(_ pointer: OpaquePointer) -> SlotctlHandle {
        Unmanaged<SlotctlHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeRetainedValue()
    }

    // MARK: - Calls

    /// Runs one state-touching call under the handle's operation lock.
    func serialized<T: Sendable>(_ body: () throws(CFailure) -> T) throws(CFailure) -> T {
        try operations.withLock { _ throws(CFailure) -> T in try body() }
    }

    func record(_ failure: CFailure) {
        shared.withLock { $0.lastError = failure.message }
    }

    var lastError: String? { shared.withLock { $0.lastError } }

    // MARK: - Updates

    /// The update the module runs for this handle, if one was started.
    var update: ModuleUpdate? { shared.withLock { $0.update } }

    /// Starts an update unless one is running (call it under the operation lock).
    func startUpdate() throws(CFailure) {
        if let running = update, running.isRunning {
            throw CFailure(SlotError(.lockHeld, "an update is already running on this handle"))
        }
        guard manager.config.update.server != nil else {
            throw CFailure(SlotError(.invalidConfig, "\(manager.config.path): [update] server is not set"))
        }
        update?.join()
        let started = try ModuleUpdate(config: manager.config.path)
        shared.withLock { $0.update = started }
    }

    /// Cancels a running update and waits until the module has exited, so no
    /// thread of the update outlives the handle.
    func stopUpdate() {
        guard let update else { return }
        if update.isRunning { update.cancel() }
        update.join()
    }
}
