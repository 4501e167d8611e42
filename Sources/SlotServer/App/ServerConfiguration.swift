/// Everything `slot-server serve` is started with.
public struct ServerConfiguration: Sendable {
    public enum Database: Sendable, Equatable {
        /// `DATA/slot-server.sqlite`.
        case sqlite
        case postgres(PostgresURL)
    }

    /// Request body limits. Checks and events are small by nature; payload
    /// uploads are streamed to disk and limited separately.
    public struct Limits: Sendable {
        public var checkBody = 64 * 1024
        public var eventsBody = 1024 * 1024
        public var eventsPerBatch = 1000
        public var adminBody = 256 * 1024
        public var payloadSize: UInt64 = 8 << 30
        public var devicesPerPage = 10_000

        public init() {}
    }

    /// PEM files for HTTPS (`serve --tls-cert --tls-key`).
    public struct TLSFiles: Sendable, Equatable {
        /// The server's certificate, then any intermediates.
        public var certificateChain: String
        public var privateKey: String

        public init(certificateChain: String, privateKey: String) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
        }
    }

    public var host = "127.0.0.1"
    public var port = 8080
    /// nil: plain HTTP (loopback labs, or TLS ended by a proxy in front).
    public var tls: TLSFiles?
    public var dataDirectory = "./slot-server-data"
    public var database: Database = .sqlite
    /// Where payloads live; nil: the database for PostgreSQL (stateless
    /// replicas), the data directory for SQLite.
    public var payloadStorage: PayloadStorage?
    public var effectivePayloadStorage: PayloadStorage {
        if let payloadStorage { return payloadStorage }
        if case .postgres = database { return .database }
        return .directory
    }
    public var adminToken: String
    /// Base URL for payload URLs handed to devices; nil: from the request's Host header.
    public var publicURL: String?
    /// Base64 Ed25519 public key; deploys whose signature does not verify are refused.
    /// nil: signatures are only checked for form (devices still verify them).
    public var releasePublicKey: String?
    /// Base64 Ed25519 private key that signs the freshness statement on
    /// every check answer; nil: answers carry none (devices that pin a
    /// server key refuse them).
    public var onlineKey: String?
    /// Sign with the online key kept in the database instead (made by the
    /// first replica to start), its public half written to `DATA/online.pub`:
    /// what `serve --database` does when given no key file.
    public var onlineKeyInStore = false
    /// Seconds a freshness statement stays valid.
    public var freshnessLifetime: Int64 = 300
    /// `serve --allow-anonymous-devices`: checks and events without device
    /// credentials are served, bucketed by whatever client id they claim.
    public var allowAnonymousDevices = false
    public var limits = Limits()
    /// Requests to `/v1/check` and `/v1/events`, each endpoint counted on its own.
    public struct RateLimits: Sendable, Equatable {
        /// Per client id: this many at once, then this many a minute; 0: no limit.
        public var devicePerMinute: Double = 10
        /// Per peer address: twice this many at once, then this many a second; 0: no limit.
        public var addressPerSecond: Double = 100
        public init() {}
    }
    public var rateLimits = RateLimits()
    public var autoPause = AutoPausePolicy()
    /// The hawkBit DDI face for SWUpdate devices (`serve --ddi-compatible`); nil: off.
    public var ddi: DDIConfiguration?
    /// The health gate of a release deployed without one (`deploy --max-in-trial`,
    /// `--trial-timeout`): at most 100 devices in trial, each for at most an hour.
    public var defaultMaxInTrial = 100
    public var defaultTrialTimeoutSeconds = 3600
    /// How often pending device check-ins are written: each device's last check
    /// in that window is one row, so a longer window means fewer writes.
    public var checkInFlushInterval: Duration = .seconds(5)
    /// How often the in-memory release catalog is reloaded (replica convergence).
    public var catalogRefreshInterval: Duration = .seconds(1)
    /// Connections idle for this long are closed (slow or stuck clients).
    public var idleTimeout: Duration = .seconds(60)

    public init(adminToken: String) {
        self.adminToken = adminToken
    }

    public var sqlitePath: String { dataDirectory + "/slot-server.sqlite" }

    /// `https` when the server itself speaks TLS.
    public var scheme: String { tls == nil ? "http" : "https" }
}
