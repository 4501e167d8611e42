import SlotCodec
/// Runs the boot decision against the real state: the impure shell around
/// ``BootSelector``. It never fails: whatever goes wrong, the answer is a
/// slot to boot (R at worst) and the reason.
public struct BootRunner {
    public let config: SystemConfig
    public let store: StateStore

    public init(config: SystemConfig, stateDirectory: String? = nil) {
        self.config = config
        self.store = StateStore(directory: stateDirectory ?? config.stateDirectory)
    }

    public struct Result: Sendable {
        public var decision: BootDecision
        public var assignments: BootAssignments
    }

    /// Decides, persists the counted state (unless `dryRun`) and, when not a
    /// dry run, records the decision in `run-dir/booted`. With a bootloader
    /// backend, `commandLine` (the kernel's) says which slot it booted.
    public func run(dryRun: Bool, commandLine: String? = nil, now: Int64 = Timestamp.nowSeconds()) -> Result {
        let decision: BootDecision
        if dryRun {
            decision = decide(now: now, persist: false, commandLine: commandLine)
        } else {
            do {
                // First boot of a device whose state directory was never made.
                if !FileSystem.exists(store.directory) { try store.prepareDirectory() }
                let lock = try FileLock.acquire(path: store.lockPath, timeout: 5, what: "the state")
                defer { lock.release() }
                decision = decide(now: now, persist: true, commandLine: commandLine)
            } catch {
                decision = BootDecision(slot: .R, state: nil, reason: "cannot lock the state: \(error)", notes: [])
            }
        }
        let assignments = self.assignments(for: decision)
        if !dryRun {
            try? BootedSlot.write(assignments, runDirectory: config.runDirectory)
        }
        return Result(decision: decision, assignments: assignments)
    }

    /// R, without looking at the state: for when the state cannot even be
    /// reached (its device is missing or will not mount).
    /// With a bootloader backend, the slot it booted (its kernel runs).
    public func fallbackToRecovery(reason: String, commandLine: String? = nil) -> Result {
        let decision = BootDecision(slot: bootloaderChoice(commandLine) ?? .R, state: nil, reason: reason, notes: [])
        let assignments = self.assignments(for: decision)
        try? BootedSlot.write(assignments, runDirectory: config.runDirectory)
        return Result(decision: decision, assignments: assignments)
    }

    /// The slot the bootloader booted, when a bootloader backend is
    /// configured and the command line names one.
    func bootloaderChoice(_ commandLine: String?) -> SlotName? {
        guard config.bootloader != .initramfs, let commandLine else { return nil }
        return (try? KernelCommandLine.bootedSlot(commandLine)) ?? nil
    }

    private func decide(now: Int64, persist: Bool, commandLine: String?) -> BootDecision {
        let snapshot = store.snapshot()
        let chosen = bootloaderChoice(commandLine)
        let state: SystemState
        if let current = snapshot.current {
            state = current
        } else if snapshot.isMissing {
            state = .provisionedWithA(maxTries: config.maxTries)
        } else {
            // Both copies bad: never guess a slot from garbage, and leave the
            // copies as they are for the post-mortem. The bootloader's slot
            // runs its own kernel: its root is the only one that fits.
            return BootDecision(slot: chosen ?? .R, state: nil, reason: "state corrupt: \(snapshot.problems.joined(separator: "; "))", notes: [])
        }
        if let chosen {
            return BootSelector.recordBootloaderChoice(state, slot: chosen, now: now) { next in
                persist ? commit(next, over: snapshot) : .committed(next)
            }
        }
        var notes: [String] = []
        if config.bootloader != .initramfs {
            notes.append("no \(KernelCommandLine.slotParameter)= on the kernel command line: chosen from the state")
        }
        var decision = BootSelector.select(state, now: now) { slot, proposed in
            var next = proposed
            let definition = config.slot(slot)
            switch definition.storage {
            case .block(let spec):
                let root: String
                do throws(SlotError) {
                    root = try DeviceResolver.resolve(spec)
                } catch {
                    if slot != .R { return .failed(error.message) }
                    root = spec.description
                }
                // Learn the filesystem type once (slots provisioned by other
                // means) and keep it, so later boots need no probe.
                if next[slot].fstype == nil, slot != .R || next[slot].status != .empty {
                    next[slot].fstype = BlockProbe.filesystemType(root)
                }
            case .directory:
                if slot != .R, !FileSystem.exists(definition.payloadPath!) {
                    return .failed("payload '\(definition.payloadPath!)' is missing")
                }
            }
            return persist ? commit(next, over: snapshot) : .committed(next)
        }
        decision.notes = notes + decision.notes
        return decision
    }

    /// Persists a counted boot over the copies read for the decision.
    private func commit(_ next: SystemState, over snapshot: StateStore.Snapshot) -> BootSelector.CommitResult {
        do {
            FailPoint.hit("boot-before-commit")
            let written = try store.write(next, over: snapshot)
            FailPoint.hit("boot-after-commit")
            return .committed(written)
        } catch {
            return .failed("cannot persist the boot count: \(error)")
        }
    }

    func assignments(for decision: BootDecision) -> BootAssignments {
        let definition = config.slot(decision.slot)
        var root: String
        var fstype: String?
        switch definition.storage {
        case .block(let spec):
            // If R's device cannot be resolved here, hand the spec itself on:
            // initramfs-tools resolves PARTLABEL= and friends on its own.
            root = (try? DeviceResolver.resolve(spec)) ?? spec.description
            // Recorded at install; probed only for slots that were not installed by us.
            fstype = decision.state?[decision.slot].fstype ?? BlockProbe.filesystemType(root)
        case .directory:
            root = definition.payloadPath!
        }
        var reason = decision.reason
        if !decision.notes.isEmpty { reason += " (" + decision.notes.joined(separator: "; ") + ")" }
        return BootAssignments(slot: decision.slot, root: root, fstype: fstype, seq: decision.seq, reason: reason)
    }
}
