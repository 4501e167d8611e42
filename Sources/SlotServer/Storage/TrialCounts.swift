/// The devices in a release's trial (health-gated rollouts), by where they stand.
public struct TrialCounts: Codable, Sendable, Equatable {
    /// Offered the release, no outcome yet, admitted within the trial timeout: what the gate counts.
    public var inTrial: Int
    /// Reported `marked-good`.
    public var confirmed: Int
    /// Reported `fell-back` or `failed`.
    public var failed: Int
    /// Admitted longer ago than the trial timeout without reporting: no longer hold a place.
    public var timedOut: Int

    public init(inTrial: Int = 0, confirmed: Int = 0, failed: Int = 0, timedOut: Int = 0) {
        self.inTrial = inTrial
        self.confirmed = confirmed
        self.failed = failed
        self.timedOut = timedOut
    }
}

/// The `trials` table, the same in SQLite and PostgreSQL: one row per device
/// admitted to a gated release, with the first outcome it reported.
enum TrialSchema {
    static let table = """
        CREATE TABLE IF NOT EXISTS trials (
          release_id TEXT NOT NULL,
          client_id TEXT NOT NULL,
          admitted_ms BIGINT NOT NULL,
          outcome TEXT,
          outcome_ms BIGINT,
          PRIMARY KEY (release_id, client_id)
        )
        """

    /// The event types that end a device's trial, and the outcome each records.
    static let outcomes: Set<String> = ["marked-good", "fell-back", "failed"]
}
