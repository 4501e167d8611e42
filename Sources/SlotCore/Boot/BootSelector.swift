/// The boot decision, as one pure function of the state.
///
/// 1. `recovery-once`: clear it, persist, boot R; if that cannot be persisted,
///    ignore the request.
/// 2. A or B with a verified image and no tries left (never marked good since
///    its last attempt): bad, "boot attempts exhausted", event fell-back.
/// 3. Candidates: A and B with status ready or good, priority > 0, tries > 0,
///    by priority, then good, then tries.
/// 4. The first candidate whose counted state can be committed wins (tries
///    -= 1, boots += 1, `booted` recorded). A slot is never booted uncounted:
///    when the commit fails, the next candidate is tried, and R is the end.
///    R has no counter and never becomes bad.
///
/// Side effects live in `commit`, which the caller supplies: it checks the
/// slot can be used (its device exists), persists the state and returns it
/// as written, or returns why it could not.
public enum BootSelector {
    public enum CommitResult: Sendable {
        case committed(SystemState)
        case failed(String)
    }

    public static func select(
        _ state: SystemState, now: Int64, commit: (SlotName, SystemState) -> CommitResult
    ) -> BootDecision {
        var notes: [String] = []

        if state.recoveryOnce {
            var next = state
            next.recoveryOnce = false
            next.booted = .init(slot: .R, seq: state.seq + 1)
            next.record(.boot, slot: .R, "recovery requested", at: now)
            switch commit(.R, next) {
            case .committed(let written):
                return BootDecision(slot: .R, state: written, reason: "recovery requested", notes: notes)
            case .failed(let why):
                notes.append("recovery request ignored: cannot persist it (\(why))")
            }
        }

        var working = state
        for slot in SlotName.counted where working[slot].status.holdsVerifiedImage && working[slot].tries <= 0 {
            working[slot].markBad("boot attempts exhausted")
            working.record(.fellBack, slot: slot, "boot attempts exhausted", at: now)
            notes.append("fell back from \(slot): boot attempts exhausted")
        }

        for slot in candidates(working) {
            var next = working
            next[slot].tries -= 1
            next[slot].boots += 1
            next.booted = .init(slot: slot, seq: working.seq + 1)
            next.record(.boot, slot: slot, "chose \(slot), \(next[slot].tries) tries left after this boot", at: now)
            switch commit(slot, next) {
            case .committed(let written):
                return BootDecision(slot: slot, state: written, reason: "\(slot) is \(working[slot].status.rawValue), priority \(working[slot].priority)", notes: notes)
            case .failed(let why):
                notes.append("skipped \(slot): \(why)")
            }
        }

        let reason = notes.contains(where: { $0.hasPrefix("skipped") }) ? "no slot could be counted" : "no bootable slot in A or B"
        var next = working
        next.booted = .init(slot: .R, seq: working.seq + 1)
        next.record(.boot, slot: .R, reason, at: now)
        switch commit(.R, next) {
        case .committed(let written):
            return BootDecision(slot: .R, state: written, reason: reason, notes: notes)
        case .failed(let why):
            notes.append("decision for R not recorded: \(why)")
            return BootDecision(slot: .R, state: nil, reason: reason, notes: notes)
        }
    }

    /// With a bootloader that chooses and counts (`[boot] bootloader = grub
    /// | uboot`): records the boot it made, `slot` from `slotctl.slot=`,
    /// and reconciles the state with it. The kernel that runs is the
    /// slot's own, so there is no other choice to make here.
    ///
    /// - Every candidate the state held above `slot` was passed over by the
    ///   bootloader, which skips only a slot without tries left (or not
    ///   allowed to boot), and so was every other verified slot whose tries
    ///   this hook counted down to 0: it becomes bad, "boot attempts
    ///   exhausted", with a fell-back event, as in the initramfs mode. Not while a projection
    ///   is pending: then the environment may not have heard of the state's
    ///   last change yet, and nothing is inferred.
    /// - R with `recovery-once` set is the requested recovery: the request is
    ///   cleared.
    /// - A or B: one try spent (the bootloader spent it in its environment),
    ///   `boots` += 1; `booted` recorded.
    public static func recordBootloaderChoice(
        _ state: SystemState, slot: SlotName, now: Int64, commit: (SystemState) -> CommitResult
    ) -> BootDecision {
        var next = state
        var notes: [String] = []
        var reason = "the bootloader booted \(slot)"
        if slot == .R && state.recoveryOnce {
            next.recoveryOnce = false
            reason = "recovery requested"
        } else if state.projectionPending {
            notes.append("the bootloader environment may be behind the state (its last write was interrupted): no fallback inferred")
        } else {
            // Passed over: every candidate above the booted slot, and every
            // other verified slot the hook itself counted down to 0 (its
            // tries ran out in userland, where the hook saw each boot).
            let passedOver = candidates(state).prefix { $0 != slot }
            let spent = SlotName.counted.filter { $0 != slot && state[$0].status.holdsVerifiedImage && state[$0].tries <= 0 }
            for other in SlotName.counted where passedOver.contains(other) || spent.contains(other) {
                next[other].markBad("boot attempts exhausted")
                next.record(.fellBack, slot: other, "boot attempts exhausted", at: now)
                notes.append("fell back from \(other): the bootloader passed it over, its tries used up")
            }
        }
        if slot != .R {
            if !next[slot].status.holdsVerifiedImage {
                notes.append("the state holds \(slot) as \(next[slot].status.rawValue)")
            }
            next[slot].tries = max(0, next[slot].tries - 1)
            next[slot].boots += 1
        }
        next.booted = .init(slot: slot, seq: state.seq + 1)
        next.record(.boot, slot: slot, slot == .R ? reason : "bootloader chose \(slot), \(next[slot].tries) tries left after this boot", at: now)
        switch commit(next) {
        case .committed(let written):
            return BootDecision(slot: slot, state: written, reason: reason, notes: notes)
        case .failed(let why):
            notes.append("boot not recorded: \(why)")
            return BootDecision(slot: slot, state: nil, reason: reason, notes: notes)
        }
    }

    /// A and B in boot order, bootable ones only.
    public static func candidates(_ state: SystemState) -> [SlotName] {
        SlotName.counted
            .filter { state[$0].status.holdsVerifiedImage && state[$0].priority > 0 && state[$0].tries > 0 }
            .sorted { lhs, rhs in
                let l = state[lhs], r = state[rhs]
                if l.priority != r.priority { return l.priority > r.priority }
                if (l.status == .good) != (r.status == .good) { return l.status == .good }
                if l.tries != r.tries { return l.tries > r.tries }
                return lhs < rhs
            }
    }

    /// What the next boot would choose if every write succeeds; no side effects.
    public static func preview(_ state: SystemState) -> SlotName {
        select(state, now: 0) { _, next in .committed(next) }.slot
    }
}
