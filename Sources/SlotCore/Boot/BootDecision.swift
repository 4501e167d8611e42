/// What the boot selection decided, and the state it committed (nil when
/// even the decision for R could not be written).
public struct BootDecision: Sendable {
    public var slot: SlotName
    public var state: SystemState?
    public var reason: String
    /// What happened on the way: fallbacks, skipped slots, ignored requests.
    public var notes: [String]

    public var seq: UInt64? { state?.seq }
}
