import SlotWire

/// `POST /v1/releases`: a release as `deploy` built and signed it.
///
/// Without `url` the release waits for its payload at `PUT /v1/releases/{id}/payload`
/// and is offered to devices only once those bytes arrived and matched the
/// manifest. With `url` the payload lives elsewhere (a CDN, a static host) and
/// the release is published at once; devices verify it against the signed manifest.
public struct DeployRequest: Codable, Sendable, Equatable {
    public var channel: String
    public var manifest: ReleaseManifest
    /// Base64 Ed25519 signature over `manifest.signingBytes`.
    public var signature: String
    /// Share of the channel's devices that get it, 0...100 with two decimals; default 100.
    public var rolloutPercent: Double?
    /// Makes the release one arm of an A/B experiment instead of a percentage rollout.
    public var experiment: ExperimentArm?
    /// An external payload URL; nil to upload the payload to this server.
    public var url: String?
    /// SHA-1 of the payload at `url`, for hawkBit DDI clients (the server
    /// computes it itself for an uploaded payload).
    public var payloadSHA1: String?
    /// Health gate: devices in trial at once (0: none); nil: the server's default.
    public var maxInTrial: Int?
    /// Seconds a device stays in trial without reporting; nil: the server's default.
    public var trialTimeoutSeconds: Int?
    /// The release's chunk index (delta downloads). Its `url` is empty when
    /// `indexData` carries the index for this server to serve, else where it lives.
    public var index: ChunkIndexReference?
    /// Base64 of the chunk index, when this server serves it.
    public var indexData: String?

    public init(
        channel: String, manifest: ReleaseManifest, signature: String, rolloutPercent: Double? = nil,
        experiment: ExperimentArm? = nil, url: String? = nil, maxInTrial: Int? = nil, trialTimeoutSeconds: Int? = nil
    ) {
        self.maxInTrial = maxInTrial
        self.trialTimeoutSeconds = trialTimeoutSeconds
        self.channel = channel
        self.manifest = manifest
        self.signature = signature
        self.rolloutPercent = rolloutPercent
        self.experiment = experiment
        self.url = url
    }
}

/// One arm of an A/B experiment: the devices whose bucket for key `name` falls in
/// `[start, end)` percent. Arms of one experiment never overlap.
public struct ExperimentArm: Codable, Sendable, Equatable {
    public var name: String
    public var start: Double
    public var end: Double

    public init(name: String, start: Double, end: Double) {
        self.name = name
        self.start = start
        self.end = end
    }
}

/// The answer to a deploy: the release as stored and, unless it is already
/// published, where its payload goes.
public struct DeployResponse: Codable, Sendable, Equatable {
    public var release: ReleaseInfo
    /// Path (relative to the server) to `PUT` the payload to; nil when the release uses an external URL.
    public var uploadPath: String?

    public init(release: ReleaseInfo, uploadPath: String?) {
        self.release = release
        self.uploadPath = uploadPath
    }
}
