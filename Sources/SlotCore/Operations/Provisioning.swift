import SlotCodec
extension SlotManager {
    /// A slot whose content was put there by other means (a factory line
    /// flashing raw images): `init` trusts it once its CRC32 checks out.
    public struct Adoption: Sendable, Equatable {
        public var slot: SlotName
        public var size: UInt64
        public var crc32: UInt32
        public var version: String?

        public init(slot: SlotName, size: UInt64, crc32: UInt32, version: String?) {
            self.slot = slot
            self.size = size
            self.crc32 = crc32
            self.version = version
        }

        /// Parses `SLOT:SIZE:CRC32[:VERSION]`.
        public init(argument: String) throws(SlotError) {
            let parts = argument.split(separator: ":", maxSplits: 3).map(String.init)
            guard parts.count >= 3, let slot = SlotName(argument: parts[0]), let size = UInt64(parts[1]), size > 0,
                let crc = CRC32.parse(parts[2])
            else {
                throw SlotError(.usage, "--adopt expects SLOT:SIZE:CRC32[:VERSION], got '\(argument)'")
            }
            self.init(slot: slot, size: size, crc32: crc, version: parts.count > 3 ? parts[3] : nil)
        }
    }

    /// `slotctl init`: provisions the state. Slots are empty unless they
    /// verify: adopted ones against the given CRC32, and with `force` over
    /// an existing state, kept ones against their recorded CRC32.
    @discardableResult
    public func initialize(force: Bool, adopt: [Adoption] = []) throws(SlotError) -> SystemState {
        try store.prepareDirectory()
        return try store.withLock { () throws(SlotError) -> SystemState in
            let snapshot = store.snapshot()
            if !force {
                if snapshot.current != nil {
                    throw SlotError(.alreadyProvisioned, "the state in '\(config.stateDirectory)' is already provisioned (--force re-provisions it, keeping only slots that verify)")
                }
                if !snapshot.isMissing {
                    throw SlotError(.stateCorrupt, "the state in '\(config.stateDirectory)' is corrupt (\(snapshot.problems.joined(separator: "; "))); --force replaces it")
                }
            }
            // The bootloader's environment must be writable before the state
            // says anything it would have to follow.
            try store.sync?.preflight()
            var state = SystemState()
            var notes: [String] = []
            if let old = snapshot.current {
                state.securityVersion = old.securityVersion  // never lower the anti-rollback floor
                state.events = old.events
                state.seq = old.seq
                let running = bootedSlot(state: old)
                for name in SlotName.allCases where old[name].status.holdsVerifiedImage {
                    if name == running {
                        // The running system proves itself, and its read-write
                        // root no longer matches the bytes once installed.
                        var kept = old[name]
                        kept.tries = name == .R ? 0 : config.maxTries
                        state[name] = kept
                        notes.append("\(name) kept (running)")
                        continue
                    }
                    do throws(SlotError) {
                        try verifyRecordedImage(name, old[name])
                        var kept = old[name]
                        kept.tries = name == .R ? 0 : config.maxTries
                        state[name] = kept
                        notes.append("\(name) kept")
                    } catch {
                        notes.append("\(name) emptied (\(error.message))")
                    }
                }
            }
            for adoption in adopt {
                let computed = try SlotReader.crc32(of: config.slot(adoption.slot), size: adoption.size)
                guard computed == adoption.crc32 else {
                    throw SlotError(.checksumMismatch, "slot \(adoption.slot) does not hold the given image: CRC32 \(CRC32.hex(computed)), expected \(CRC32.hex(adoption.crc32))")
                }
                var record = SlotRecord()
                record.status = adoption.slot == .R ? .ready : .good
                record.size = adoption.size
                record.crc32 = adoption.crc32
                record.version = adoption.version
                record.installed = Timestamp.nowSeconds()
                if adoption.slot != .R {
                    record.priority = state.topPriority(excluding: adoption.slot)
                    record.tries = config.maxTries
                }
                state[adoption.slot] = record
                notes.append("\(adoption.slot) adopted")
            }
            state.record(.provisioned, slot: nil, notes.isEmpty ? "provisioned" : "provisioned: " + notes.joined(separator: ", "))
            // Two copies from the start, so one bad sector never leaves none.
            // With a bootloader backend, the second is the projection's.
            let first = try store.write(state)
            return try store.provision(first)
        }
    }
}
