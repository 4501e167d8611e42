/// `PATCH /v1/releases/{id}`: widen or narrow a rollout, pause or resume it,
/// move an experiment arm. Absent fields stay as they are.
public struct RolloutPatch: Codable, Sendable, Equatable {
    public var rolloutPercent: Double?
    public var paused: Bool?
    /// Re-enable (or disable) auto-pause. Resuming an auto-paused release turns
    /// auto-pause off for it unless this says otherwise: the operator has decided.
    public var autoPause: Bool?
    /// New `[start, end)` percent range of the release's experiment arm.
    public var arm: ArmRange?
    /// A new health gate (0: none), e.g. to let a release that looks healthy go faster.
    public var maxInTrial: Int?

    public init(rolloutPercent: Double? = nil, paused: Bool? = nil, autoPause: Bool? = nil, arm: ArmRange? = nil, maxInTrial: Int? = nil) {
        self.maxInTrial = maxInTrial
        self.rolloutPercent = rolloutPercent
        self.paused = paused
        self.autoPause = autoPause
        self.arm = arm
    }
}

/// A `[start, end)` range of an experiment arm, in percent.
public struct ArmRange: Codable, Sendable, Equatable {
    public var start: Double
    public var end: Double

    public init(start: Double, end: Double) {
        self.start = start
        self.end = end
    }
}
