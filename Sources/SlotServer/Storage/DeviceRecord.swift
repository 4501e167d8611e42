/// A device's last check, as the check-in recorder coalesces it and the store keeps it.
public struct DeviceRecord: Sendable, Equatable {
    public var clientId: String
    public var compatible: String
    public var channel: String
    public var version: String
    public var slot: String
    public var lastCheckMillis: Int64
    /// The release the check was answered with, nil for 204.
    public var offeredReleaseId: String?
    /// Checks since the last flush (when recorded) or in total (when read back).
    public var checks: Int
    /// When read back: the product the device enrolled as (nil: never enrolled,
    /// an anonymous device), and when it was revoked.
    public var product: String?
    public var revokedMillis: Int64?

    public init(
        clientId: String, compatible: String, channel: String, version: String, slot: String,
        lastCheckMillis: Int64, offeredReleaseId: String?, checks: Int, product: String? = nil, revokedMillis: Int64? = nil
    ) {
        self.clientId = clientId
        self.compatible = compatible
        self.channel = channel
        self.version = version
        self.slot = slot
        self.lastCheckMillis = lastCheckMillis
        self.offeredReleaseId = offeredReleaseId
        self.checks = checks
        self.product = product
        self.revokedMillis = revokedMillis
    }
}
