import SlotCodec
import Glibc

/// The boot-attempt counter and everything around it: one record per slot
/// plus the global fields. Stored twice by ``StateStore``.
public struct SystemState: Sendable, Equatable {
    /// Sequence number of the copy this state was read from (or will be written as).
    public var seq: UInt64 = 0
    public var slots: [SlotName: SlotRecord] = [.A: SlotRecord(), .B: SlotRecord(), .R: SlotRecord()]
    /// The last boot decision: which slot, and the seq that recorded it.
    public var booted: BootRecord?
    /// Boot R once, at the next boot.
    public var recoveryOnce = false
    /// Set in the state write that precedes a write of the bootloader's
    /// environment, cleared in the one that follows it: while set, the
    /// environment may still hold the previous projection, so the boot hook
    /// does not read a skipped slot as exhausted.
    public var projectionPending = false
    /// The highest security version ever installed: the anti-rollback floor.
    public var securityVersion: UInt64 = 0
    /// The most recent events, oldest first, at most ``eventCapacity``.
    public var events: [StateEvent] = []

    public static let eventCapacity = 64

    public struct BootRecord: Sendable, Equatable {
        public var slot: SlotName
        public var seq: UInt64
    }

    public init() {}

    public subscript(slot: SlotName) -> SlotRecord {
        get { slots[slot] ?? SlotRecord() }
        set { slots[slot] = newValue }
    }

    /// Appends an event stamped with the seq this state will be written as.
    public mutating func record(_ type: StateEvent.Kind, slot: SlotName?, _ detail: String, at now: Int64 = Timestamp.nowSeconds()) {
        events.append(StateEvent(seq: seq + 1, type: type, slot: slot, detail: detail, at: now))
        if events.count > Self.eventCapacity {
            events.removeFirst(events.count - Self.eventCapacity)
        }
    }

    /// The state the boot hook provisions when there is none: A is trusted as
    /// the factory-installed system, so the device boots it and counts.
    public static func provisionedWithA(maxTries: Int) -> SystemState {
        var state = SystemState()
        state[.A].status = .good
        state[.A].priority = 1
        state[.A].tries = maxTries
        state.record(.provisioned, slot: .A, "no state found at boot: provisioned with A")
        return state
    }

    /// The priority that puts a slot above every other one.
    public func topPriority(excluding slot: SlotName) -> Int {
        SlotName.counted.filter { $0 != slot }.map { self[$0].priority }.max().map { $0 + 1 } ?? 1
    }
}
