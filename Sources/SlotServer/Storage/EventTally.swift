/// Distinct devices per event type for one release: what stats and auto-pause read.
public struct EventTally: Sendable, Equatable {
    /// Devices that reported anything for the release.
    public var reportingDevices: Int
    /// Devices that reported `fell-back` or `failed` for it.
    public var failedDevices: Int
    public var devicesByType: [String: Int]

    public init(reportingDevices: Int, failedDevices: Int, devicesByType: [String: Int]) {
        self.reportingDevices = reportingDevices
        self.failedDevices = failedDevices
        self.devicesByType = devicesByType
    }

    public var failureShare: Double {
        reportingDevices == 0 ? 0 : Double(failedDevices) / Double(reportingDevices)
    }
}
