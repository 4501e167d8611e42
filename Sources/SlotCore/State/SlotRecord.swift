/// What the state remembers about one slot.
public struct SlotRecord: Sendable, Equatable {
    public var status: SlotStatus = .empty
    /// Higher boots first; 0 is never booted.
    public var priority: Int = 0
    /// Boot attempts left before the slot is given up on.
    public var tries: Int = 0
    public var version: String?
    /// The server's id of the release the image came from (nil: installed
    /// by hand). Written in the transaction that makes the slot ready, so
    /// boots, confirmations and fallbacks are reported against what is
    /// really in the slot.
    public var release: String?
    /// Bytes of the image as written to the slot.
    public var size: UInt64?
    public var crc32: UInt32?
    public var sha256: String?
    /// The image's filesystem type (libblkid), probed once at install so the
    /// boot hook does not have to.
    public var fstype: String?
    /// When the image was installed, seconds since the epoch.
    public var installed: Int64?
    /// How many times the boot hook chose this slot.
    public var boots: UInt64 = 0
    public var badReason: String?

    public init() {}

    /// Forgets the image: used when a new one starts to be written.
    public mutating func clearImage() {
        version = nil
        release = nil
        size = nil
        crc32 = nil
        sha256 = nil
        fstype = nil
        installed = nil
        badReason = nil
    }

    public mutating func markBad(_ reason: String) {
        status = .bad
        priority = 0
        tries = 0
        badReason = reason
    }
}
