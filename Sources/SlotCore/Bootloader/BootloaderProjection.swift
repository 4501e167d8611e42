/// Which bootloader chooses and counts (`[boot] bootloader = grub | uboot`).
public enum BootloaderKind: String, Sendable, CaseIterable {
    case grub
    case uboot
}

/// The state projected into the variables slotctl owns in a bootloader
/// environment (see the bootloader contract), as pure functions.
///
/// The order is BootSelector's: candidates (status ready or good, priority
/// > 0, tries > 0) by priority, then good, then tries, then name. The
/// slots that are not candidates follow, so the order always names both A and
/// B (an empty or unset order means "not provisioned" to the boot scripts),
/// and they are kept from booting by their variables: `<S>_OK=0` and
/// `<S>_LEFT=0` for GRUB, `BOOT_<S>_LEFT=0` for U-Boot.
///
/// GRUB (decimal tries, at most 9):
/// - `ORDER`: "B A", first preferred (placed last in a new block, see
///   ``ownedNames(_:)``).
/// - `<S>_OK`: 1 when the slot holds a verified image (ready, good) and its
///   priority is above 0, else 0.
/// - `<S>_TRY`: 1 when the slot was booted since it was installed or last
///   marked good (its tries are below max-tries), else 0.
/// - `<S>_LEFT`: tries left, 0 when the slot may not boot.
/// - `R_ONCE`: 1 when the next boot is recovery.
///
/// U-Boot (hex tries, as `setexpr` prints them): `BOOT_ORDER`,
/// `BOOT_<S>_LEFT` (0 when the slot may not boot), `BOOT_R_ONCE`.
public enum BootloaderProjection {
    /// GRUB counts down by a chain of literal values, so at most 9 tries.
    public static let grubMaxTries = 9

    /// Every variable slotctl owns, for that bootloader, in the order a new
    /// environment gets them. grubenv has no checksum, so a torn write leaves
    /// a prefix of the new block over the old one: with `ORDER` last, a
    /// first write torn anywhere leaves ORDER unset (the old, unprovisioned
    /// behaviour) and a later write torn before ORDER keeps the old order.
    /// U-Boot copies are checksummed, so their order does not matter.
    public static func ownedNames(_ kind: BootloaderKind) -> [String] {
        switch kind {
        case .grub: SlotName.counted.flatMap { ["\($0)_OK", "\($0)_TRY", "\($0)_LEFT"] } + ["R_ONCE", "ORDER"]
        case .uboot: ["BOOT_ORDER"] + SlotName.counted.map { "BOOT_\($0)_LEFT" } + ["BOOT_R_ONCE"]
        }
    }

    /// A and B in the order the bootloader should walk: candidates first.
    public static func order(_ state: SystemState) -> [SlotName] {
        let candidates = BootSelector.candidates(state)
        return candidates + SlotName.counted.filter { !candidates.contains($0) }
    }

    /// The variables for `kind`, in ``ownedNames(_:)`` order. GRUB refuses
    /// max-tries above 9 (`invalidConfig`).
    public static func variables(_ kind: BootloaderKind, state: SystemState, maxTries: Int) throws(SlotError) -> [EnvironmentVariable] {
        switch kind {
        case .grub: try grubVariables(state, maxTries: maxTries)
        case .uboot: ubootVariables(state, maxTries: maxTries)
        }
    }

    public static func grubVariables(_ state: SystemState, maxTries: Int) throws(SlotError) -> [EnvironmentVariable] {
        guard (1...grubMaxTries).contains(maxTries) else {
            throw SlotError(.invalidConfig, "max-tries \(maxTries) is not possible with GRUB: its boot script counts from at most \(grubMaxTries)")
        }
        var variables: [EnvironmentVariable] = []
        for slot in SlotName.counted {
            let ok = mayBoot(state[slot])
            let left = ok ? triesLeft(state[slot], maxTries: maxTries) : 0
            let tried = ok && left < maxTries
            variables.append(EnvironmentVariable("\(slot)_OK", ok ? "1" : "0"))
            variables.append(EnvironmentVariable("\(slot)_TRY", tried ? "1" : "0"))
            variables.append(EnvironmentVariable("\(slot)_LEFT", String(left)))
        }
        variables.append(EnvironmentVariable("R_ONCE", state.recoveryOnce ? "1" : "0"))
        variables.append(EnvironmentVariable("ORDER", order(state).map(\.rawValue).joined(separator: " ")))
        return variables
    }

    public static func ubootVariables(_ state: SystemState, maxTries: Int) -> [EnvironmentVariable] {
        var variables = [EnvironmentVariable("BOOT_ORDER", order(state).map(\.rawValue).joined(separator: " "))]
        for slot in SlotName.counted {
            let left = mayBoot(state[slot]) ? triesLeft(state[slot], maxTries: maxTries) : 0
            variables.append(EnvironmentVariable("BOOT_\(slot)_LEFT", String(left, radix: 16)))
        }
        variables.append(EnvironmentVariable("BOOT_R_ONCE", state.recoveryOnce ? "1" : "0"))
        return variables
    }

    /// Sets slotctl's variables in `environment`, leaving every other one as it is.
    public static func apply<Environment: BootloaderEnvironment>(
        _ kind: BootloaderKind, state: SystemState, maxTries: Int, to environment: inout Environment
    ) throws(SlotError) {
        try environment.apply(variables(kind, state: state, maxTries: maxTries))
    }

    /// Ready or good, and a priority above 0: the `OK` part of a candidate.
    static func mayBoot(_ record: SlotRecord) -> Bool {
        record.status.holdsVerifiedImage && record.priority > 0
    }

    /// The state's tries, never more than max-tries (a state written under a
    /// larger max-tries) nor below 0.
    static func triesLeft(_ record: SlotRecord, maxTries: Int) -> Int {
        min(max(record.tries, 0), maxTries)
    }
}
