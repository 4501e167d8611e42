import PostgresNIO

/// The PostgreSQL schema: the same tables and units as ``SQLiteSchema``, plus a
/// sequence that gives published releases their deploy order across replicas.
enum PostgresSchema {
    /// Serialises concurrent migrations of instances starting together.
    static let migrationLockKey: Int64 = 0x736c_6f74_7376_7231  // "slotsvr1"

    static let v1 = [
        "CREATE SEQUENCE IF NOT EXISTS slot_publish_seq",
        """
        CREATE TABLE IF NOT EXISTS releases (
          id TEXT PRIMARY KEY,
          channel TEXT NOT NULL,
          compatible TEXT NOT NULL,
          version TEXT NOT NULL,
          security_version BIGINT NOT NULL,
          size BIGINT NOT NULL,
          crc32 TEXT NOT NULL,
          sha256 TEXT NOT NULL,
          compression TEXT NOT NULL,
          payload_size BIGINT NOT NULL,
          signature TEXT NOT NULL,
          external_url TEXT,
          payload_sha256 TEXT,
          rollout_bp BIGINT NOT NULL,
          paused BOOLEAN NOT NULL DEFAULT FALSE,
          pause_reason TEXT,
          auto_pause BOOLEAN NOT NULL DEFAULT TRUE,
          experiment TEXT,
          arm_start BIGINT,
          arm_end BIGINT,
          published_seq BIGINT UNIQUE,
          created_ms BIGINT NOT NULL,
          published_ms BIGINT
        )
        """,
        "CREATE INDEX IF NOT EXISTS releases_experiment ON releases (experiment)",
        """
        CREATE TABLE IF NOT EXISTS devices (
          client_id TEXT PRIMARY KEY,
          compatible TEXT NOT NULL,
          channel TEXT NOT NULL,
          version TEXT NOT NULL,
          slot TEXT NOT NULL,
          last_check_ms BIGINT NOT NULL,
          offered_release_id TEXT,
          checks BIGINT NOT NULL
        )
        """,
        "CREATE INDEX IF NOT EXISTS devices_version ON devices (channel, compatible, version)",
        "CREATE INDEX IF NOT EXISTS devices_offered ON devices (offered_release_id)",
        """
        CREATE TABLE IF NOT EXISTS events (
          id BIGSERIAL PRIMARY KEY,
          client_id TEXT NOT NULL,
          release_id TEXT,
          type TEXT NOT NULL,
          detail TEXT,
          device_at TEXT NOT NULL,
          received_ms BIGINT NOT NULL
        )
        """,
        "CREATE INDEX IF NOT EXISTS events_release ON events (release_id, type, client_id)",
    ]

    /// The catalog's version, as in ``SQLiteSchema/v2``; idempotent like v1.
    static let v2 = [
        "CREATE TABLE IF NOT EXISTS catalog_state (id INTEGER PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)",
        "INSERT INTO catalog_state (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING",
    ]

    /// Device identity, as in ``SQLiteSchema/v3``; idempotent like v1.
    static let v3 = [
        "CREATE TABLE IF NOT EXISTS enroll_tokens (sha256 TEXT PRIMARY KEY, product TEXT NOT NULL, created_ms BIGINT NOT NULL, expires_ms BIGINT)",
        """
        CREATE TABLE IF NOT EXISTS device_keys (
          client_id TEXT PRIMARY KEY,
          public_key TEXT NOT NULL,
          product TEXT NOT NULL,
          enrolled_ms BIGINT NOT NULL,
          revoked_ms BIGINT,
          change_seq BIGINT NOT NULL UNIQUE
        )
        """,
        "CREATE TABLE IF NOT EXISTS server_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ]

    /// Payloads in the database (`serve --payloads database`): each upload
    /// under its own id, in fixed-size chunks; `completed_ms` is set once every
    /// byte is in and verified, and only a completed upload is ever read.
    /// Chunks are stored uncompressed (STORAGE EXTERNAL): payloads are images
    /// or gzip, which pglz would only try and fail to shrink.
    static let v4 = [
        """
        CREATE TABLE IF NOT EXISTS payload_uploads (
          upload_id TEXT PRIMARY KEY,
          release_id TEXT NOT NULL,
          chunk_size INTEGER NOT NULL,
          started_ms BIGINT NOT NULL,
          completed_ms BIGINT
        )
        """,
        "CREATE INDEX IF NOT EXISTS payload_uploads_release ON payload_uploads (release_id, completed_ms)",
        """
        CREATE TABLE IF NOT EXISTS payload_chunks (
          upload_id TEXT NOT NULL REFERENCES payload_uploads (upload_id) ON DELETE CASCADE,
          seq INTEGER NOT NULL,
          data BYTEA NOT NULL,
          PRIMARY KEY (upload_id, seq)
        )
        """,
        "ALTER TABLE payload_chunks ALTER COLUMN data SET STORAGE EXTERNAL",
    ]

    /// Health-gated rollouts, as in ``SQLiteSchema/v4``; idempotent like v1.
    static let v5 = [
        "ALTER TABLE releases ADD COLUMN IF NOT EXISTS max_in_trial BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE releases ADD COLUMN IF NOT EXISTS trial_timeout_s BIGINT NOT NULL DEFAULT 3600",
    ] + TrialSchema.statements

    /// hawkBit DDI, as in ``SQLiteSchema/v5``; idempotent like v1.
    static let v6 = ["ALTER TABLE releases ADD COLUMN IF NOT EXISTS payload_sha1 TEXT"] + DDISchema.statements

    /// Delta updates, as in ``SQLiteSchema/v6``; idempotent like v1.
    static let v7 = [
        "ALTER TABLE releases ADD COLUMN IF NOT EXISTS index_ref TEXT",
        "CREATE TABLE IF NOT EXISTS release_indexes (release_id TEXT PRIMARY KEY REFERENCES releases (id) ON DELETE CASCADE, data BYTEA NOT NULL)",
    ]

    /// Enrolments and revocations take it, so `change_seq` is handed out in
    /// commit order and a replica reading "after N" never skips a row.
    static let deviceKeysLockKey: Int64 = 0x736c_6f74_6b65_7973  // "slotkeys"

    static let bumpCatalogVersion: PostgresQuery = "UPDATE catalog_state SET version = version + 1 WHERE id = 1"
}
