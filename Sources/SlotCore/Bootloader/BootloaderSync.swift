/// Keeps a bootloader's environment the projection of the state
/// (`[boot] bootloader = grub | uboot`). Every state transaction of a
/// mutating operation ends here (``StateStore/transaction(timeout:_:)``), so
/// init, install, mark-good, mark-bad, set-active, recovery and
/// factory-reset all project the same way.
///
/// The order of the writes, and why a power cut anywhere leaves a bootable,
/// consistent pair:
///
/// 1. the state, with the change and `projection-pending` set;
/// 2. the environment (grubenv in place in one write; U-Boot's other copy,
///    then its flag is the newer one);
/// 3. the state again, `projection-pending` cleared.
///
/// Cut before 1: nothing changed. Cut between 1 and 2 (or inside 2, which
/// each format survives by itself: U-Boot's old copy stays current, a torn
/// grubenv keeps its old `ORDER`, written last): the bootloader boots by the
/// old projection, whose slots still hold what they held, and the boot hook,
/// seeing the mark, records that boot without reading a passed-over slot as
/// exhausted. Cut between 2 and 3: the new projection boots, the mark stays
/// until the next operation. Either way the next operation re-projects (the
/// mark forces it) and clears the mark.
///
/// The environment's tries are never raised by a projection unless the
/// operation re-armed the slot in the state (install, mark-good,
/// set-active): a kernel that died before the boot hook ran spent a try in
/// the environment only, and that try stays spent. (After an interrupted
/// projection the environment may be older than the state, and the state's
/// count is written as it is.)
public struct BootloaderSync: Sendable {
    public let kind: BootloaderKind
    /// grubenv, or the `fw_env.config` naming U-Boot's environment.
    public let path: String
    public let maxTries: Int

    public init?(_ config: SystemConfig) {
        switch config.bootloader {
        case .initramfs: return nil
        case .grub(let environment): (kind, path) = (.grub, environment)
        case .uboot(let configuration): (kind, path) = (.uboot, configuration)
        }
        maxTries = config.maxTries
    }

    /// The environment as the bootloader will read it.
    enum Current {
        /// grubenv; nil when the file does not exist yet.
        case grub(GrubEnvironment?)
        case uboot(UBootEnvironmentStore, UBootEnvironmentSnapshot)

        var lookup: (String) -> String? {
            switch self {
            case .grub(let env): return { env?[$0] }
            case .uboot(_, let snapshot): return { snapshot.environment?[$0] }
            }
        }
    }

    func readCurrent() throws(SlotError) -> Current {
        switch kind {
        case .grub:
            do {
                return .grub(try GrubEnvironment.read(path: path))
            } catch where error.code == .notFound {
                return .grub(nil)
            }
        case .uboot:
            let store = UBootEnvironmentStore(config: try UBootEnvConfig.load(path: path))
            return .uboot(store, try store.read())
        }
    }

    /// Fails, before anything is written, when the environment could not be
    /// kept in step (`init` runs it first): no valid U-Boot copy, a grubenv
    /// that is not a GRUB block, a grubenv directory that does not exist.
    public func preflight() throws(SlotError) {
        switch try readCurrent() {
        case .grub(nil):
            let directory = FileSystem.parentDirectory(of: path)
            guard (try? FileSystem.stat(directory))?.isDirectory == true else {
                throw SlotError(.notFound, "\(path): the directory for GRUB's environment block does not exist (mount the ESP?)")
            }
        case .grub:
            break
        case .uboot(_, let snapshot):
            if snapshot.environment == nil { throw Self.noValidCopy(path) }
        }
    }

    static func noValidCopy(_ path: String) -> SlotError {
        SlotError(.stateCorrupt, "\(path): no valid copy of the U-Boot environment (U-Boot runs its built-in default); provision one with the board's default environment (mkenvimage or fw_setenv) before slotctl can keep it in step")
    }

    /// What the bootloader will do, read back for `slotctl status`.
    public func view() throws(SlotError) -> BootloaderView {
        BootloaderView(kind, lookup: try readCurrent().lookup)
    }

    /// Writes `state` (the result of a transaction on `previous`) and
    /// projects it, in the order above; `copies` are the state copies the
    /// transaction read. Returns the state as written last.
    func commit(_ state: SystemState, previous: SystemState?, store: StateStore, over copies: StateStore.Snapshot) throws(SlotError) -> SystemState {
        let current = try readCurrent()
        let seen = BootloaderView(kind, lookup: current.lookup)
        var projected = state
        for slot in SlotName.counted {
            // A pending mark means the environment may hold an older
            // projection than the state: the state's count is the truth then.
            let rearmed = previous.map { $0.projectionPending || state[slot].tries > $0[slot].tries } ?? true
            if !rearmed, let left = seen[slot].triesLeft, left < projected[slot].tries {
                projected[slot].tries = left
            }
        }
        let variables = try BootloaderProjection.variables(kind, state: projected, maxTries: maxTries)
        let upToDate = variables.allSatisfy { current.lookup($0.name) == $0.value }
        if upToDate {
            var clean = state
            clean.projectionPending = false
            return try store.write(clean, over: copies)
        }
        var marked = state
        marked.projectionPending = true
        let written = try store.write(marked, over: copies)
        FailPoint.hit("projection-state-marked")
        try write(variables, over: current)
        FailPoint.hit("projection-environment-written")
        var done = written
        done.projectionPending = false
        return try store.write(done)
    }

    private func write(_ variables: [EnvironmentVariable], over current: Current) throws(SlotError) {
        switch current {
        case .grub(let existing):
            if var env = existing {
                try env.apply(variables)
                try env.write(inPlace: path)
            } else {
                // save_env cannot create the file, and a missing grubenv boots
                // A uncounted: make it once, then it is only ever rewritten.
                var env = GrubEnvironment()
                try env.apply(variables)
                try env.create(path: path)
            }
        case .uboot(let store, _):
            // Read again under libubootenv's lock: fw_setenv may have written since.
            try store.update { (env) throws(SlotError) in try env.apply(variables) }
        }
    }
}
