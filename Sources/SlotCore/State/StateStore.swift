import Glibc

/// The two copies of the state, `state.0` and `state.1`, in the state directory.
///
/// Reading takes the valid copy with the highest sequence number. Writing
/// rewrites the other copy with sequence + 1 (temp file, fsync, rename,
/// directory fsync, read back), so the newest valid copy is never the one
/// being written and a crash at any point leaves one valid copy behind.
public final class StateStore: Sendable {
    public let directory: String
    /// With a bootloader backend, every transaction also projects the state
    /// into its environment (see ``BootloaderSync``). The boot hook's store
    /// has none: it records what the bootloader did and never writes its
    /// environment.
    public let sync: BootloaderSync?

    public init(directory: String, sync: BootloaderSync? = nil) {
        self.directory = directory
        self.sync = sync
    }

    public func copyPath(_ index: Int) -> String { "\(directory)/state.\(index)" }
    public var lockPath: String { "\(directory)/lock" }

    /// What one copy held when it was read.
    public enum Copy: Sendable {
        case missing
        case corrupt(String)
        case valid(SystemState)

        var state: SystemState? {
            if case .valid(let state) = self { return state }
            return nil
        }
    }

    /// Both copies, and what they add up to.
    public struct Snapshot: Sendable {
        public var copies: [Copy]

        /// The newest valid copy, if any.
        public var current: SystemState? {
            copies.compactMap(\.state).max { $0.seq < $1.seq }
        }

        /// Index of the newest valid copy.
        public var currentIndex: Int? {
            guard let current else { return nil }
            return copies.firstIndex { $0.state?.seq == current.seq }
        }

        /// Never provisioned: no copy exists at all. Distinct from corrupt.
        public var isMissing: Bool {
            copies.allSatisfy { if case .missing = $0 { true } else { false } }
        }

        /// Why each copy that is not valid was rejected.
        public var problems: [String] {
            copies.enumerated().compactMap { index, copy in
                switch copy {
                case .missing: "state.\(index): missing"
                case .corrupt(let reason): "state.\(index): \(reason)"
                case .valid: nil
                }
            }
        }
    }

    /// Reads both copies. A copy that cannot be read counts as corrupt.
    public func snapshot() -> Snapshot {
        Snapshot(copies: [0, 1].map(readCopy))
    }

    private func readCopy(_ index: Int) -> Copy {
        let path = copyPath(index)
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path, limit: StateCodec.maxPayload + StateCodec.headerSize + 4)
        } catch {
            if error.code == .notFound { return .missing }
            return .corrupt("unreadable: \(error)")
        }
        do {
            return .valid(try StateCodec.decode(bytes))
        } catch {
            return .corrupt(error.reason)
        }
    }

    /// The current state, or an error that tells "never provisioned" from "corrupt".
    public func load() throws(SlotError) -> SystemState {
        try load(from: snapshot())
    }

    /// ``load()`` from copies already read.
    func load(from snapshot: Snapshot) throws(SlotError) -> SystemState {
        if let current = snapshot.current { return current }
        if snapshot.isMissing {
            throw SlotError(.notProvisioned, "no state in '\(directory)' (run 'slotctl init' to provision it)")
        }
        throw SlotError(.stateCorrupt, "both copies of the state in '\(directory)' are unusable: \(snapshot.problems.joined(separator: "; "))")
    }

    /// Writes `state` as the next sequence number into the copy that is not
    /// the newest valid one, and returns it as written.
    @discardableResult
    public func write(_ state: SystemState) throws(SlotError) -> SystemState {
        try write(state, over: snapshot())
    }

    /// ``write(_:)`` with the copies already read (under the same lock), so
    /// the boot path reads each copy once.
    @discardableResult
    public func write(_ state: SystemState, over snapshot: Snapshot) throws(SlotError) -> SystemState {
        let target = snapshot.currentIndex.map { 1 - $0 } ?? 0
        var next = state
        next.seq = max(snapshot.current?.seq ?? 0, state.seq) + 1
        try writeCopy(next, index: target)
        return next
    }

    private func writeCopy(_ state: SystemState, index: Int) throws(SlotError) {
        let bytes = StateCodec.encode(state)
        let path = copyPath(index)
        let temp = path + ".tmp"
        let fd = try FileDescriptor.open(temp, [.writeOnly, .create, .truncate], mode: 0o644)
        do {
            try fd.write(bytes)
            FailPoint.hit("state-temp-written")
            try fd.sync()
            fd.close()
        } catch {
            fd.close()
            try? FileSystem.unlinkIfPresent(temp)
            throw error
        }
        FailPoint.hit("state-temp-synced")
        try FileSystem.rename(temp, path)
        FailPoint.hit("state-renamed")
        try FileSystem.syncDirectory(directory)
        FailPoint.hit("state-dir-synced")

        // Read back from the medium, not from what we think we wrote.
        let check = try FileDescriptor.open(path)
        defer { check.close() }
        check.dropCache(offset: 0, length: 0)
        let readBack = try check.readAll(limit: bytes.count + 1)
        guard readBack == bytes else {
            throw SlotError(.io, "state copy '\(path)' reads back different from what was written")
        }
    }

    /// Creates the state directory if needed.
    public func prepareDirectory() throws(SlotError) {
        try FileSystem.makeDirectories(directory)
    }

    /// Holds the state lock while `body` runs. Waits up to `timeout` seconds
    /// for another holder, then fails with `lockHeld`.
    public func withLock<T>(timeout: Double = StateStore.defaultLockTimeout, _ body: () throws(SlotError) -> T) throws(SlotError) -> T {
        let lock = try FileLock.acquire(path: lockPath, timeout: timeout, what: "the state")
        defer { lock.release() }
        return try body()
    }

    /// Writes a state made from nothing (`init`), projected like a transaction.
    @discardableResult
    public func provision(_ state: SystemState) throws(SlotError) -> SystemState {
        let copies = snapshot()
        if let sync { return try sync.commit(state, previous: nil, store: self, over: copies) }
        return try write(state, over: copies)
    }

    /// Lock, read, change, write: the shape of every mutating command.
    @discardableResult
    public func transaction(timeout: Double = StateStore.defaultLockTimeout, _ change: (inout SystemState) throws(SlotError) -> Void) throws(SlotError) -> SystemState {
        try withLock(timeout: timeout) { () throws(SlotError) -> SystemState in
            // Each copy is read and decoded once: what was read is what the write goes over.
            let copies = snapshot()
            var state = try load(from: copies)
            let before = state
            try change(&state)
            if let sync { return try sync.commit(state, previous: before, store: self, over: copies) }
            return try write(state, over: copies)
        }
    }

    /// Seconds to wait for the state lock; `SLOTCTL_LOCK_TIMEOUT` overrides.
    public static var defaultLockTimeout: Double {
        if let raw = getenv("SLOTCTL_LOCK_TIMEOUT"), let value = Double(String(cString: raw)) { return value }
        return 30
    }
}
