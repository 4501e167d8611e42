import SlotCodec
/// The operations of `slotctl` and the C API, on one configured system.
/// Each mutating operation is one locked transaction on the state.
public final class SlotManager: Sendable {
    public let config: SystemConfig
    public let store: StateStore
    /// SHA-256 for manifests that name one; nil in programs that never hash.
    public let sha256: SHA256Factory?

    public init(config: SystemConfig, sha256: SHA256Factory? = nil) {
        self.config = config
        self.store = StateStore(directory: config.stateDirectory, sync: BootloaderSync(config))
        self.sha256 = sha256
    }

    /// Loads the config from `--config`, `SLOTCTL_CONFIG` or the default path.
    public convenience init(configPath: String?, sha256: SHA256Factory? = nil) throws(SlotError) {
        self.init(config: try SystemConfig.load(path: SystemConfig.path(explicit: configPath)), sha256: sha256)
    }

    /// The slot the running system booted from: `run-dir/booted`, else the
    /// mounted root device, else the state's last boot decision.
    public func bootedSlot(state: SystemState? = nil) -> SlotName? {
        if let detected = BootedSlot.detect(config: config) { return detected }
        return (state ?? (try? store.load()))?.booted?.slot
    }

    // MARK: - Boot

    /// The boot hook's decision (see ``BootRunner``).
    public func boot(dryRun: Bool, commandLine: String? = nil) -> BootRunner.Result {
        BootRunner(config: config).run(dryRun: dryRun, commandLine: commandLine)
    }

    // MARK: - Marking

    /// Confirms a slot: status good, tries re-armed. R has no counter, so
    /// confirming R succeeds and changes nothing. Returns the slot confirmed.
    @discardableResult
    public func markGood(_ requested: SlotName? = nil) throws(SlotError) -> SlotName {
        let slot: SlotName
        if let requested { slot = requested } else { slot = try requireBooted("mark-good") }
        if slot == .R { return .R }
        try store.transaction { (state) throws(SlotError) in
            let record = state[slot]
            guard record.status.holdsVerifiedImage else {
                throw SlotError(.slotNotUsable, "slot \(slot) is \(record.status.rawValue); only a ready or good slot can be marked good (use set-active to re-activate a verified image)")
            }
            state[slot].status = .good
            state[slot].tries = config.maxTries
            state[slot].badReason = nil
            state.record(.markedGood, slot: slot, "marked good")
        }
        return slot
    }

    /// What `mark-good` says about the slot `markGood` returned (slotctl and
    /// slot-boot print the same).
    public static func confirmation(of slot: SlotName) -> String {
        slot == .R ? "R has no boot counter: nothing to confirm" : "slot \(slot) marked good"
    }

    /// Gives up on a slot: it is never booted until reinstalled or re-activated.
    public func markBad(_ slot: SlotName, reason: String = "marked bad") throws(SlotError) {
        guard slot != .R else {
            throw SlotError(.usage, "R has no boot counter and cannot be marked bad")
        }
        try store.transaction { (state) throws(SlotError) in
            state[slot].markBad(reason)
            state.record(.markedBad, slot: slot, reason)
        }
    }

    /// Makes a slot the next to boot. A bad slot that still holds a recorded
    /// image is re-verified against its CRC32 first, unless `force` (a slot
    /// that was mounted read-write has changed bytes and cannot verify).
    public func setActive(_ slot: SlotName, force: Bool = false) throws(SlotError) {
        guard slot != .R else {
            throw SlotError(.usage, "R is not activated; use 'slotctl recovery' to boot it once")
        }
        let state = try store.load()
        let record = state[slot]
        if record.status == .bad {
            if !force {
                do {
                    try verifyRecordedImage(slot, record)
                } catch where error.code == .checksumMismatch || error.code == .sizeMismatch {
                    throw SlotError(error.code, "\(error.message) (a read-write mount changes a slot's bytes; --force activates it anyway)")
                }
            }
            guard record.size != nil else {
                throw SlotError(.slotNotUsable, "slot \(slot) is bad and holds no recorded image; install one")
            }
        } else if !record.status.holdsVerifiedImage {
            throw SlotError(.slotNotUsable, "slot \(slot) is \(record.status.rawValue): nothing verified to activate")
        }
        try store.transaction { (state) throws(SlotError) in
            guard state[slot] == record else {
                throw SlotError(.stateChanged, "slot \(slot) changed while it was being activated; try again")
            }
            if state[slot].status == .bad { state[slot].status = .ready }
            state[slot].badReason = nil
            state[slot].priority = state.topPriority(excluding: slot)
            state[slot].tries = config.maxTries
            state.record(.activated, slot: slot, "activated")
        }
    }

    /// Boots R once, at the next boot.
    public func requestRecovery() throws(SlotError) {
        try store.transaction { (state) throws(SlotError) in
            state.recoveryOnce = true
            state.record(.recoveryRequested, slot: .R, "boot R once")
        }
    }

    // MARK: - Helpers

    public func requireBooted(_ operation: String) throws(SlotError) -> SlotName {
        guard let slot = bootedSlot() else {
            throw SlotError(.bootedUnknown, "\(operation): cannot tell which slot is booted (no \(BootedSlot.fileName(runDirectory: config.runDirectory)), root device matches no slot); name the slot")
        }
        return slot
    }

    /// Reads a slot's recorded image back and compares size and CRC32.
    func verifyRecordedImage(_ slot: SlotName, _ record: SlotRecord) throws(SlotError) {
        guard let size = record.size, let crc = record.crc32 else {
            throw SlotError(.slotNotUsable, "slot \(slot) has no recorded image to verify")
        }
        let computed = try SlotReader.crc32(of: config.slot(slot), size: size)
        guard computed == crc else {
            throw SlotError(.checksumMismatch, "slot \(slot) no longer holds its image: CRC32 \(CRC32.hex(computed)), recorded \(CRC32.hex(crc))")
        }
    }
}
