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
/// admitted to a gated release, with the first outcome it reported; and
/// running totals per release, so that an admission costs a few index
/// lookups however many devices went through the trial before (counting the
/// rows instead made each admission slower than the last: 512 checks/s in
/// the fleet simulation).
enum TrialSchema {
    static let statements = [table, totals, openIndex]

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

    static let totals = """
        CREATE TABLE IF NOT EXISTS trial_totals (
          release_id TEXT PRIMARY KEY,
          admitted BIGINT NOT NULL DEFAULT 0,
          confirmed BIGINT NOT NULL DEFAULT 0,
          failed BIGINT NOT NULL DEFAULT 0
        )
        """

    /// Devices admitted and silent, by age: the timed-out ones are counted through it.
    static let openIndex = "CREATE INDEX IF NOT EXISTS trials_open ON trials (release_id, admitted_ms) WHERE outcome IS NULL"

    /// Devices in trial from the totals and the count of timed-out ones.
    static func inTrial(admitted: Int64, confirmed: Int64, failed: Int64, timedOut: Int64) -> Int64 {
        admitted - confirmed - failed - timedOut
    }

    /// The event types that end a device's trial, and the outcome each records.
    static let outcomes: Set<String> = ["marked-good", "fell-back", "failed"]
}
