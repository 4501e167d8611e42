import FoundationEssentials

/// `POST /v1/check`: who the device is and what it runs. The answer is
/// `200` with a ``Release`` or `204` when there is nothing for it.
public struct CheckRequest: Codable, Sendable, Equatable {
    public var clientId: String
    public var compatible: String
    public var channel: String
    public var version: String
    /// The slot the device booted (`A`, `B` or `R`).
    public var slot: String

    public init(clientId: String, compatible: String, channel: String, version: String, slot: String) {
        self.clientId = clientId
        self.compatible = compatible
        self.channel = channel
        self.version = version
        self.slot = slot
    }
}
