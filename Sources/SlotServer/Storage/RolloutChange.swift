/// A validated PATCH, in buckets, as the stores apply it inside one transaction.
public struct RolloutChange: Sendable, Equatable {
    public var rolloutBasisPoints: Int?
    public var paused: Bool?
    public var autoPause: Bool?
    /// New `[start, end)` buckets of the release's experiment arm.
    public var armBuckets: Range<Int>?
    public var maxInTrial: Int?

    public init(
        rolloutBasisPoints: Int? = nil, paused: Bool? = nil, autoPause: Bool? = nil, armBuckets: Range<Int>? = nil, maxInTrial: Int? = nil
    ) {
        self.maxInTrial = maxInTrial
        self.rolloutBasisPoints = rolloutBasisPoints
        self.paused = paused
        self.autoPause = autoPause
        self.armBuckets = armBuckets
    }

    /// Applies the change to a record, as both stores do before writing it back.
    ///
    /// Resuming an auto-paused release turns its auto-pause off unless the
    /// change says otherwise: an operator who resumes has looked at the failures.
    func apply(to record: inout ReleaseRecord) throws(ServerError) {
        if let bp = rolloutBasisPoints {
            record.rolloutBasisPoints = bp
        }
        if let range = armBuckets {
            guard var arm = record.experiment else {
                throw ServerError.badRequest("release \(record.id) is not an experiment arm")
            }
            arm.startBucket = range.lowerBound
            arm.endBucket = range.upperBound
            record.experiment = arm
        }
        if let paused {
            if paused && !record.paused {
                record.paused = true
                record.pauseReason = "manual"
            } else if !paused && record.paused {
                if record.pauseReason != "manual" { record.autoPause = false }
                record.paused = false
                record.pauseReason = nil
            }
        }
        if let autoPause { record.autoPause = autoPause }
        if let maxInTrial { record.maxInTrial = maxInTrial }
    }
}
