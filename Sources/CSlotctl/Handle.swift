import Glibc
import SlotCore
import SlotUpdate
import Synchronization

/// What a `slotctl_t` points at: one configured system, the update engine
/// made for it on first use, and the last failure's message.
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
        /// Made on the first update call; keeps the update's progress.
        var engine: UpdateEngine?
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

    /// The engine, made now if this is the first update call. Call it under
    /// the operation lock (it may create the client id file).
    func engine() throws(CFailure) -> UpdateEngine {
        if let engine = shared.withLock({ $0.engine }) { return engine }
        let made: UpdateEngine
        do {
            made = try UpdateEngine(manager: manager)
        } catch {
            throw CFailure(error)
        }
        shared.withLock { $0.engine = made }
        return made
    }

    /// The engine if an update call made one; progress and cancel never make it.
    var existingEngine: UpdateEngine? { shared.withLock { $0.engine } }

    /// Cancels a running update and waits until it has stopped, so no thread
    /// of the update outlives the handle. (Repeating the request is harmless;
    /// one suffices since `start()` clears the flag before returning.)
    func stopUpdate() {
        guard let engine = existingEngine else { return }
        while engine.isRunning || engine.progress.state.isInFlight {
            engine.cancel()
            usleep(5_000)
        }
    }
}

extension UpdateState {
    /// Started and not finished: between `start()` and a final state.
    var isInFlight: Bool {
        switch self {
        case .checking, .downloading, .installing: true
        default: false
        }
    }

    /// The `slotctl_update_state` value (`SLOTCTL_UPDATE_*` in slotctl.h).
    var cValue: Int32 {
        switch self {
        case .idle: 0
        case .checking: 1
        case .downloading: 2
        case .installing: 3
        case .readyToReboot: 4
        case .upToDate: 5
        case .failed: 6
        case .cancelled: 7
        }
    }
}
