/// When a release pauses itself: its share of devices reporting `fell-back` or
/// `failed` passes `threshold`, once at least `minReports` devices reported.
public struct AutoPausePolicy: Sendable, Equatable {
    public var threshold: Double
    public var minReports: Int

    public init(threshold: Double = 0.05, minReports: Int = 20) {
        self.threshold = threshold
        self.minReports = minReports
    }

    /// The reason to pause, or nil to carry on.
    public func verdict(_ tally: EventTally) -> String? {
        guard tally.reportingDevices >= minReports, tally.failureShare > threshold else { return nil }
        let share = (tally.failureShare * 1000).rounded() / 10
        let limit = (threshold * 1000).rounded() / 10
        return "auto: \(tally.failedDevices) of \(tally.reportingDevices) reporting devices (\(share) %) fell back or failed, over \(limit) %"
    }
}
