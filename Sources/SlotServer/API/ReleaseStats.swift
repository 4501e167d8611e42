/// `GET /v1/releases/{id}/stats`: how a release is doing in the fleet.
public struct ReleaseStats: Codable, Sendable, Equatable {
    public var release: ReleaseInfo
    /// Distinct devices that reported any event for this release.
    public var reportingDevices: Int
    /// Distinct devices that reported `fell-back` or `failed` for it.
    public var failedDevices: Int
    /// `failedDevices / reportingDevices`, 0 when nobody reported.
    public var failureShare: Double
    /// Distinct devices per event type (`downloaded`, `installed`, ...).
    public var devicesByEvent: [String: Int]
    /// Devices whose last check was answered with this release.
    public var devicesOffered: Int
    /// Devices whose last check said they run this release's version (same channel and compatible).
    public var devicesRunning: Int
    /// The auto-pause rule in force on the server that answered.
    public var autoPauseThreshold: Double
    public var autoPauseMinReports: Int
    /// The devices of the release's trial (health gate), by where they stand.
    public var trial: TrialCounts?

    public init(
        release: ReleaseInfo, reportingDevices: Int, failedDevices: Int, failureShare: Double,
        devicesByEvent: [String: Int], devicesOffered: Int, devicesRunning: Int,
        autoPauseThreshold: Double, autoPauseMinReports: Int
    ) {
        self.release = release
        self.reportingDevices = reportingDevices
        self.failedDevices = failedDevices
        self.failureShare = failureShare
        self.devicesByEvent = devicesByEvent
        self.devicesOffered = devicesOffered
        self.devicesRunning = devicesRunning
        self.autoPauseThreshold = autoPauseThreshold
        self.autoPauseMinReports = autoPauseMinReports
    }
}
