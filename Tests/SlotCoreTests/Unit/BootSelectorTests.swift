import SlotTestSupport
import Testing
@testable import SlotCore

@Suite struct BootSelectorTests {
    typealias Slot = (SlotStatus, Int, Int)  // status, priority, tries

    func state(_ a: Slot, _ b: Slot, recoveryOnce: Bool = false) -> SystemState {
        var state = SystemState()
        state.seq = 10
        state[.A].status = a.0
        state[.A].priority = a.1
        state[.A].tries = a.2
        state[.B].status = b.0
        state[.B].priority = b.1
        state[.B].tries = b.2
        state.recoveryOnce = recoveryOnce
        return state
    }

    func decide(_ state: SystemState, failing: Set<SlotName> = []) -> BootDecision {
        BootSelector.select(state, now: 1000) { slot, next in
            failing.contains(slot) ? .failed("write failed") : .committed({ var s = next; s.seq = state.seq + 1; return s }())
        }
    }

    /// Hand-checked decisions: (A, B) → chosen slot, and what is marked bad.
    @Test(arguments: [
        // A good and the only one
        (Slot(.good, 1, 3), Slot(.empty, 0, 0), SlotName.A, [SlotName]()),
        // new B installed above a good A: trial of B
        (Slot(.good, 1, 3), Slot(.ready, 2, 3), .B, []),
        // B's last try used up: fall back to A, B becomes bad
        (Slot(.good, 1, 3), Slot(.ready, 2, 0), .A, [.B]),
        // both exhausted: R, both bad
        (Slot(.good, 1, 0), Slot(.ready, 2, 0), .R, [.A, .B]),
        // priority ties: good first
        (Slot(.ready, 2, 3), Slot(.good, 2, 3), .B, []),
        // priority and status tie: more tries first
        (Slot(.good, 2, 1), Slot(.good, 2, 3), .B, []),
        // full tie: A
        (Slot(.good, 2, 3), Slot(.good, 2, 3), .A, []),
        // priority 0 is never booted, but not marked bad either
        (Slot(.good, 0, 3), Slot(.ready, 0, 3), .R, []),
        // installing, empty and bad slots are never candidates
        (Slot(.installing, 5, 3), Slot(.bad, 5, 3), .R, []),
        (Slot(.empty, 5, 3), Slot(.good, 1, 1), .B, []),
        // a good slot whose tries ran out is given up on too ("every boot counts")
        (Slot(.good, 2, 0), Slot(.good, 1, 3), .B, [.A]),
        // higher priority beats good
        (Slot(.good, 1, 3), Slot(.ready, 3, 1), .B, []),
    ] as [(Slot, Slot, SlotName, [SlotName])])
    func handCheckedDecisions(a: Slot, b: Slot, expected: SlotName, markedBad: [SlotName]) {
        let decision = decide(state(a, b))
        #expect(decision.slot == expected)
        let written = decision.state!
        for slot in markedBad {
            #expect(written[slot].status == .bad)
            #expect(written[slot].priority == 0)
            #expect(written[slot].badReason == "boot attempts exhausted")
            #expect(written.events.contains { $0.type == .fellBack && $0.slot == slot })
        }
        #expect(written.booted == .init(slot: expected, seq: 11))
        if expected != .R {
            let before = expected == .A ? a : b
            #expect(written[expected].tries == before.2 - 1)
            #expect(written[expected].boots == 1)
        }
    }

    /// Every combination of status × priority × tries for A and B, checked
    /// against the rules one by one.
    @Test func everyCombinationFollowsTheRules() {
        let statuses = SlotStatus.allCases
        let priorities = [0, 1, 2]
        let tries = [0, 1, 3]
        var combos: [Slot] = []
        for s in statuses { for p in priorities { for t in tries { combos.append((s, p, t)) } } }
        var checked = 0
        for a in combos {
            for b in combos {
                let input = state(a, b)
                let decision = decide(input)
                let written = decision.state!
                checked += 1
                // Exhausted verified slots become bad, others keep their status.
                for (slot, spec) in [(SlotName.A, a), (.B, b)] {
                    let exhausted = spec.0.holdsVerifiedImage && spec.2 == 0
                    #expect(exhausted == (written[slot].status == .bad && spec.0 != .bad), "\(slot) \(spec)")
                    if !exhausted && slot != decision.slot { #expect(written[slot] == input[slot]) }
                }
                let bootable = [SlotName.A, .B].filter { s in
                    let spec = s == .A ? a : b
                    return spec.0.holdsVerifiedImage && spec.1 > 0 && spec.2 > 0
                }
                if bootable.isEmpty {
                    #expect(decision.slot == .R, "\(a) \(b)")
                    continue
                }
                #expect(bootable.contains(decision.slot), "\(a) \(b) chose \(decision.slot)")
                let chosen = decision.slot == .A ? a : b
                // No other bootable slot ranks above the chosen one.
                for other in bootable where other != decision.slot {
                    let spec = other == .A ? a : b
                    let higher = spec.1 > chosen.1
                        || (spec.1 == chosen.1 && spec.0 == .good && chosen.0 != .good)
                        || (spec.1 == chosen.1 && (spec.0 == .good) == (chosen.0 == .good) && spec.2 > chosen.2)
                    #expect(!higher, "\(a) \(b): \(other) outranks \(decision.slot)")
                }
                #expect(written[decision.slot].tries == chosen.2 - 1)
                #expect(written[decision.slot].status == chosen.0)
                #expect(written.booted?.slot == decision.slot)
            }
        }
        #expect(checked == 45 * 45)
    }

    @Test func recoveryOnceBootsROnceAndClearsTheRequest() {
        let decision = decide(state((.good, 1, 3), (.ready, 2, 3), recoveryOnce: true))
        #expect(decision.slot == .R)
        #expect(decision.state?.recoveryOnce == false)
        #expect(decision.state?[.B].tries == 3, "R's boot does not spend B's tries")
        #expect(decide(decision.state!).slot == .B)
    }

    @Test func recoveryRequestThatCannotBePersistedIsIgnored() {
        let input = state((.good, 1, 3), (.empty, 0, 0), recoveryOnce: true)
        var calls: [SlotName] = []
        let decision = BootSelector.select(input, now: 0) { slot, next in
            calls.append(slot)
            return calls.count == 1 ? .failed("read-only medium") : .committed(next)
        }
        #expect(calls == [.R, .A])
        #expect(decision.slot == .A)
        #expect(decision.notes.contains { $0.contains("recovery request ignored") })
    }

    @Test func aSlotIsNeverBootedUncounted() {
        // B is preferred, but its counted state cannot be written: A is tried next.
        let decision = decide(state((.good, 1, 3), (.ready, 2, 3)), failing: [.B])
        #expect(decision.slot == .A)
        #expect(decision.notes.contains { $0.hasPrefix("skipped B") })
        // Nothing can be written at all: R, and no state claims otherwise.
        let none = decide(state((.good, 1, 3), (.ready, 2, 3)), failing: [.A, .B, .R])
        #expect(none.slot == .R)
        #expect(none.state == nil)
        #expect(none.reason == "no slot could be counted")
    }

    @Test func fallbackThroughBAndAToR() {
        var current = state((.good, 1, 2), (.ready, 2, 2))
        var chosen: [SlotName] = []
        for _ in 0..<7 {
            let decision = decide(current)
            chosen.append(decision.slot)
            current = decision.state!
        }
        #expect(chosen == [.B, .B, .A, .A, .R, .R, .R])
        #expect(current[.A].status == .bad && current[.B].status == .bad)
    }

    @Test func eventRingKeepsTheLast64() {
        var current = state((.good, 1, 200), (.empty, 0, 0))
        for _ in 0..<100 { current = decide(current).state! }
        #expect(current.events.count == SystemState.eventCapacity)
        #expect(current.events.last?.type == .boot)
    }
}
