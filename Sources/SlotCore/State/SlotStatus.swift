/// Where a slot is in its life: nothing in it, being written, written and
/// verified but never confirmed, confirmed by `mark-good`, or given up on.
public enum SlotStatus: String, Sendable, CaseIterable {
    case empty
    case installing
    case ready
    case good
    case bad

    /// Whether the bytes in the slot are a complete, verified image.
    public var holdsVerifiedImage: Bool { self == .ready || self == .good }
}
