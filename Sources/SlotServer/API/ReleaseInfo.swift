import SlotWire

/// A release as the admin endpoints show it (`GET /v1/releases`, deploy and
/// PATCH answers).
public struct ReleaseInfo: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        /// Created; its payload has not (completely) arrived yet. Never offered.
        case pendingUpload = "pending-upload"
        /// Offered to devices according to its rollout.
        case published
    }

    public var id: String
    public var channel: String
    public var compatible: String
    public var version: String
    public var securityVersion: UInt64
    public var size: UInt64
    public var crc32: String
    public var sha256: String
    public var compression: PayloadCompression
    public var payloadSize: UInt64
    public var signature: String
    public var state: State
    /// Position in deploy (publish) order; nil until published.
    public var deployOrder: Int64?
    public var rolloutPercent: Double
    public var paused: Bool
    /// Why it is paused: `manual`, or the auto-pause finding.
    public var pauseReason: String?
    /// Whether failure reports can pause it by themselves.
    public var autoPause: Bool
    public var experiment: ExperimentArm?
    /// The external payload URL, or nil when this server serves the payload.
    public var externalURL: String?
    /// Where this server serves the payload (relative path), nil for external payloads.
    public var payloadPath: String?
    public var createdAt: String
    public var publishedAt: String?
    /// Health gate: devices in trial at once, 0 for none (nil from servers before the gate).
    public var maxInTrial: Int?
    public var trialTimeoutSeconds: Int?

    public init(
        id: String, channel: String, manifest: ReleaseManifest, signature: String, state: State,
        deployOrder: Int64?, rolloutPercent: Double, paused: Bool, pauseReason: String?, autoPause: Bool,
        experiment: ExperimentArm?, externalURL: String?, payloadPath: String?, createdAt: String, publishedAt: String?
    ) {
        self.id = id
        self.channel = channel
        self.compatible = manifest.compatible
        self.version = manifest.version
        self.securityVersion = manifest.securityVersion
        self.size = manifest.size
        self.crc32 = manifest.crc32
        self.sha256 = manifest.sha256
        self.compression = manifest.compression
        self.payloadSize = manifest.payloadSize
        self.signature = signature
        self.state = state
        self.deployOrder = deployOrder
        self.rolloutPercent = rolloutPercent
        self.paused = paused
        self.pauseReason = pauseReason
        self.autoPause = autoPause
        self.experiment = experiment
        self.externalURL = externalURL
        self.payloadPath = payloadPath
        self.createdAt = createdAt
        self.publishedAt = publishedAt
    }
}

/// `GET /v1/releases`.
public struct ReleaseList: Codable, Sendable, Equatable {
    public var releases: [ReleaseInfo]

    public init(releases: [ReleaseInfo]) { self.releases = releases }
}
