/// The SQLite schema. Times are epoch milliseconds and percentages basis
/// points, the same as in PostgreSQL, so both stores read the same values.
enum SQLiteSchema {
    static let v1 = [
        """
        CREATE TABLE releases (
          id TEXT PRIMARY KEY,
          channel TEXT NOT NULL,
          compatible TEXT NOT NULL,
          version TEXT NOT NULL,
          security_version INTEGER NOT NULL,
          size INTEGER NOT NULL,
          crc32 TEXT NOT NULL,
          sha256 TEXT NOT NULL,
          compression TEXT NOT NULL,
          payload_size INTEGER NOT NULL,
          signature TEXT NOT NULL,
          external_url TEXT,
          payload_sha256 TEXT,
          rollout_bp INTEGER NOT NULL,
          paused BOOLEAN NOT NULL DEFAULT 0,
          pause_reason TEXT,
          auto_pause BOOLEAN NOT NULL DEFAULT 1,
          experiment TEXT,
          arm_start INTEGER,
          arm_end INTEGER,
          published_seq INTEGER UNIQUE,
          created_ms INTEGER NOT NULL,
          published_ms INTEGER
        )
        """,
        "CREATE INDEX releases_experiment ON releases (experiment)",
        """
        CREATE TABLE devices (
          client_id TEXT PRIMARY KEY,
          compatible TEXT NOT NULL,
          channel TEXT NOT NULL,
          version TEXT NOT NULL,
          slot TEXT NOT NULL,
          last_check_ms INTEGER NOT NULL,
          offered_release_id TEXT,
          checks INTEGER NOT NULL
        )
        """,
        "CREATE INDEX devices_version ON devices (channel, compatible, version)",
        "CREATE INDEX devices_offered ON devices (offered_release_id)",
        """
        CREATE TABLE events (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          client_id TEXT NOT NULL,
          release_id TEXT,
          type TEXT NOT NULL,
          detail TEXT,
          device_at TEXT NOT NULL,
          received_ms INTEGER NOT NULL
        )
        """,
        "CREATE INDEX events_release ON events (release_id, type, client_id)",
    ]

    /// The catalog's version: one row, bumped in the transaction of every
    /// change devices can see (publish, rollout change, pause), so replicas
    /// on one database sign the same number (see ``FreshnessSigner``).
    static let v2 = [
        "CREATE TABLE catalog_state (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)",
        "INSERT INTO catalog_state (id, version) VALUES (1, 0)",
    ]

    /// Device identity: enrolment tokens (their SHA-256 only), enrolled
    /// device keys, and secrets the server makes for itself.
    static let v3 = [
        "CREATE TABLE enroll_tokens (sha256 TEXT PRIMARY KEY, product TEXT NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER)",
        """
        CREATE TABLE device_keys (
          client_id TEXT PRIMARY KEY,
          public_key TEXT NOT NULL,
          product TEXT NOT NULL,
          enrolled_ms INTEGER NOT NULL,
          revoked_ms INTEGER,
          change_seq INTEGER NOT NULL UNIQUE
        )
        """,
        "CREATE TABLE server_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ]

    /// Health-gated rollouts: each release's gate, and the devices admitted to
    /// its trial with the outcome they reported.
    static let v4 = [
        "ALTER TABLE releases ADD COLUMN max_in_trial INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE releases ADD COLUMN trial_timeout_s INTEGER NOT NULL DEFAULT 3600",
    ] + TrialSchema.statements

    /// hawkBit DDI: the payload's SHA-1, and the DDI devices.
    static let v5 = ["ALTER TABLE releases ADD COLUMN payload_sha1 TEXT"] + DDISchema.statements

    /// Delta updates: each release's chunk index reference, and the index bytes
    /// this server serves.
    static let v6 = [
        "ALTER TABLE releases ADD COLUMN index_ref TEXT",
        "CREATE TABLE release_indexes (release_id TEXT PRIMARY KEY REFERENCES releases (id) ON DELETE CASCADE, data BLOB NOT NULL)",
    ]

    static let bumpCatalogVersion = "UPDATE catalog_state SET version = version + 1 WHERE id = 1"
}
