import Logging
import Synchronization

/// What every route shares: configuration, store, in-memory catalog, check-in
/// recorder, metrics and the payload store. One per server instance.
final class ServerState: Sendable {
    let configuration: ServerConfiguration
    let store: any MetadataStore
    let catalog: ReleaseCatalog
    let recorder: CheckInRecorder
    let metrics: ServerMetrics
    let payloads: any PayloadStore
    let auth: AdminAuthenticator
    /// Rate limits of `/v1/check` and `/v1/events`.
    let limits: RequestLimits
    /// Which enrolled device sent a check or a batch of events.
    let deviceAuth: DeviceAuthenticator
    let logger: Logger
    /// The hawkBit DDI face, when configured.
    let ddi: DDIFace?
    /// Health-gated trials as this instance knows them.
    let trials: TrialGate
    /// Release ids with an upload running in this process: one upload per release at a time.
    let uploadsInProgress = Mutex<Set<String>>([])

    init(configuration: ServerConfiguration, store: any MetadataStore, metrics: ServerMetrics, logger: Logger) throws(ServerError) {
        self.configuration = configuration
        self.store = store
        var freshness: FreshnessSigner?
        if let key = configuration.onlineKey {
            freshness = try FreshnessSigner(privateKeyBase64: key, lifetime: configuration.freshnessLifetime)
        } else if configuration.onlineKeyInStore {
            freshness = FreshnessSigner(lifetime: configuration.freshnessLifetime)  // the key comes at start
        }
        self.catalog = ReleaseCatalog(store: store, freshness: freshness)
        self.recorder = CheckInRecorder()
        self.metrics = metrics
        let directory = PayloadDirectory(root: configuration.dataDirectory)
        switch configuration.effectivePayloadStorage {
        case .directory:
            self.payloads = directory
        case .database:
            guard let postgres = store as? PostgresStore else {
                throw ServerError(.configuration, "--payloads database needs --database postgres://…; SQLite keeps payloads in --data")
            }
            self.payloads = DatabasePayloads(store: postgres, fallback: directory)
        }
        self.auth = AdminAuthenticator(token: configuration.adminToken)
        self.limits = RequestLimits(configuration.rateLimits)
        self.deviceAuth = DeviceAuthenticator(directory: DeviceDirectory(store: store), allowAnonymous: configuration.allowAnonymousDevices)
        self.trials = TrialGate(fullFor: configuration.catalogRefreshInterval)
        self.ddi = configuration.ddi.map(DDIFace.init(configuration:))
        self.logger = logger
    }

    /// Reloads the catalog after a local write and mirrors paused state into metrics.
    func releasesChanged() async {
        do {
            try await catalog.reload()
        } catch {
            logger.warning("reloading the release catalog failed: \(error)")
        }
        metrics.updatePaused(catalog.published)
    }
}
