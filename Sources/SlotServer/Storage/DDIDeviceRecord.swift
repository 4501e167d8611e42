/// A device that speaks hawkBit's DDI (SWUpdate's suricatta), as the server
/// keeps it: DDI devices do not say what they run, so the server remembers
/// what they confirmed, and which action it opened for them.
public struct DDIDeviceRecord: Sendable, Equatable {
    public var controllerId: String
    /// The version of the last release it closed with success; nil before the first.
    public var version: String?
    /// The release of its open action (deploymentBase or, once that release is
    /// paused, cancelAction); nil when none is open.
    public var actionReleaseId: String?
    /// Whether it reported the open action under way: its first report counts as `downloaded`.
    public var actionProceeding: Bool
    /// When it last sent its configData; nil: the link is offered.
    public var configMillis: Int64?
    public var updatedMillis: Int64

    public init(
        controllerId: String, version: String? = nil, actionReleaseId: String? = nil, actionProceeding: Bool = false,
        configMillis: Int64? = nil, updatedMillis: Int64
    ) {
        self.controllerId = controllerId
        self.version = version
        self.actionReleaseId = actionReleaseId
        self.actionProceeding = actionProceeding
        self.configMillis = configMillis
        self.updatedMillis = updatedMillis
    }
}

/// The DDI tables, the same in SQLite and PostgreSQL.
enum DDISchema {
    static let statements = [
        """
        CREATE TABLE IF NOT EXISTS ddi_devices (
          controller_id TEXT PRIMARY KEY,
          version TEXT,
          action_release TEXT,
          action_proceeding BOOLEAN NOT NULL DEFAULT FALSE,
          config_ms BIGINT,
          updated_ms BIGINT NOT NULL
        )
        """
    ]
}
