/// One device as its last check left it (`GET /v1/devices`).
public struct DeviceInfo: Codable, Sendable, Equatable {
    public var clientId: String
    public var compatible: String
    public var channel: String
    public var version: String
    public var slot: String
    /// ISO 8601, UTC, server time of the last check.
    public var lastCheck: String
    /// The release the last check was answered with; nil for "nothing" (204).
    public var offeredRelease: String?
    /// Checks counted so far.
    public var checks: Int
    /// The product it enrolled as; nil for a device that never enrolled
    /// (served only with `--allow-anonymous-devices`).
    public var product: String?
    /// ISO 8601, UTC, when it was revoked; nil while trusted.
    public var revoked: String?

    public init(
        clientId: String, compatible: String, channel: String, version: String, slot: String,
        lastCheck: String, offeredRelease: String?, checks: Int, product: String? = nil, revoked: String? = nil
    ) {
        self.clientId = clientId
        self.compatible = compatible
        self.channel = channel
        self.version = version
        self.slot = slot
        self.lastCheck = lastCheck
        self.offeredRelease = offeredRelease
        self.checks = checks
        self.product = product
        self.revoked = revoked
    }
}

/// `GET /v1/devices?limit=N&after=CLIENTID`: one page, ordered by client id.
public struct DeviceList: Codable, Sendable, Equatable {
    public var total: Int
    public var devices: [DeviceInfo]
    /// Pass as `after` for the next page; nil on the last page.
    public var next: String?

    public init(total: Int, devices: [DeviceInfo], next: String?) {
        self.total = total
        self.devices = devices
        self.next = next
    }
}
