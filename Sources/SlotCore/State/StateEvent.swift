/// One line of the state's event ring: what happened, to which slot, when.
public struct StateEvent: Sendable, Equatable {
    public var seq: UInt64
    public var type: Kind
    public var slot: SlotName?
    public var detail: String
    /// Seconds since the epoch.
    public var at: Int64

    public init(seq: UInt64, type: Kind, slot: SlotName?, detail: String, at: Int64) {
        self.seq = seq
        self.type = type
        self.slot = slot
        self.detail = detail
        self.at = at
    }

    public enum Kind: String, Sendable, CaseIterable {
        case provisioned
        case boot
        case fellBack = "fell-back"
        case markedGood = "marked-good"
        case markedBad = "marked-bad"
        case installing
        case installed
        case installFailed = "install-failed"
        case activated
        case recoveryRequested = "recovery-requested"
        case factoryReset = "factory-reset"
    }
}
