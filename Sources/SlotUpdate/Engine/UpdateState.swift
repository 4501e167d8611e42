import SlotCore

/// Where an update is, from the device's point of view (the original notes'
/// state machine): idle → checking → downloading → installing → ready to
/// reboot ("the world needs to reboot"), or up to date, failed, cancelled.
public enum UpdateState: String, Sendable, CaseIterable {
    case idle
    case checking
    case downloading
    case installing
    case readyToReboot = "ready-to-reboot"
    case upToDate = "up-to-date"
    case failed
    case cancelled

    /// States an update ends in.
    public var isFinal: Bool {
        switch self {
        case .readyToReboot, .upToDate, .failed, .cancelled: true
        default: false
        }
    }
}

/// A snapshot of an update: what it is doing and how far it got.
public struct UpdateProgress: Sendable {
    public var state: UpdateState
    /// Payload bytes received and handed to the installer.
    public var bytesDone: UInt64
    /// Payload bytes in all (0 until known).
    public var bytesTotal: UInt64
    /// Why it failed, for `failed` (and `cancelled`).
    public var error: SlotError?
    /// The release being installed, once known.
    public var version: String?
    public var releaseId: String?
    /// Delta updates: image bytes taken from the device itself, and payload
    /// bytes fetched (`bytesDone`/`bytesTotal` then count image bytes).
    public var bytesReused: UInt64 = 0
    public var bytesFetched: UInt64 = 0
    /// What the update is doing beyond its state, e.g. hashing the booted slot.
    public var detail: String?

    public init(state: UpdateState, bytesDone: UInt64 = 0, bytesTotal: UInt64 = 0, error: SlotError? = nil, version: String? = nil, releaseId: String? = nil) {
        self.state = state
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.error = error
        self.version = version
        self.releaseId = releaseId
    }
}
