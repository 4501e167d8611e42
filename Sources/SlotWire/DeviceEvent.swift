import FoundationEssentials

/// One thing that happened on a device, reported in a batch to `POST /v1/events`.
public struct DeviceEvent: Codable, Sendable, Equatable {
    public var clientId: String
    /// The release the event is about; nil for events with no release (a boot of R).
    public var releaseId: String?
    public var type: DeviceEventType
    public var detail: String?
    /// ISO 8601 time on the device, UTC.
    public var at: String

    public init(clientId: String, releaseId: String?, type: DeviceEventType, detail: String?, at: String) {
        self.clientId = clientId
        self.releaseId = releaseId
        self.type = type
        self.detail = detail
        self.at = at
    }
}

public enum DeviceEventType: String, Codable, Sendable, CaseIterable {
    case downloaded
    case installed
    case booted
    case markedGood = "marked-good"
    case fellBack = "fell-back"
    case failed
}
