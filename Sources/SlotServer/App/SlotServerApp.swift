import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// Builds the update server: store, catalog, background services, routes.
public enum SlotServerApp {
    public typealias App = Application<RouterResponder<SlotRequestContext>>

    /// Opens (and migrates) the configured store and returns the application,
    /// ready for `runService()` or HummingbirdTesting.
    ///
    /// - Parameter onServerRunning: called with the bound port once listening
    ///   (port 0 in the configuration picks a free one).
    public static func make(
        configuration: ServerConfiguration,
        logger: Logger = Logger(label: "slot-server"),
        metrics: ServerMetrics = ServerMetrics(),
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws(ServerError) -> App {
        // The data directory holds payloads (or those from before --payloads database), uploads and the SQLite file.
        try PayloadDirectory(root: configuration.dataDirectory).prepare()

        var services: [any Service] = []
        let store: any MetadataStore
        switch configuration.database {
        case .sqlite:
            store = try SQLiteStore(path: configuration.sqlitePath)
        case .postgres(let url):
            let postgres = PostgresStore(url: url, logger: logger)
            services.append(postgres)
            store = postgres
        }
        let state = try ServerState(configuration: configuration, store: store, metrics: metrics, logger: logger)
        if configuration.allowAnonymousDevices {
            logger.warning("--allow-anonymous-devices: unsigned checks and events are served; anyone can speak for any client id")
        }
        if configuration.releasePublicKey == nil {
            logger.warning("no --release-key: deploy signatures are only checked for form; devices still verify them")
        }

        // Shutdown runs in reverse: the flusher writes its last batch while the store still runs.
        services.append(
            CatalogRefresher(
                catalog: state.catalog, devices: state.deviceAuth.directory, interval: configuration.catalogRefreshInterval,
                metrics: metrics, logger: logger))
        services.append(
            CheckInFlusher(recorder: state.recorder, store: store, interval: configuration.checkInFlushInterval, logger: logger))

        let answerer = CheckAnswerer(state: state)
        let idleTimeout = TimeAmount.seconds(configuration.idleTimeout.components.seconds)
        let checkLimit = configuration.limits.checkBody
        // The fast path keeps the idle timeout: checks it answers never reach Hummingbird's connection handler.
        var server: HTTPServerBuilder = .http1(
            configuration: .init(
                additionalChannelHandlers: [
                    CheckFastPathInstaller { CheckFastPathHandler(answerer: answerer, limit: checkLimit, idleTimeout: idleTimeout) }
                ],
                idleTimeout: nil))
        if let tls = configuration.tls {
            server = try tlsServer(server, tls)
        }
        var app = Application(
            router: makeRouter(state, answerer: answerer),
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "slot-server"),
            services: services,
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
        app.beforeServerStarts {
            // The store runs as a service by now (PostgreSQL needs its pool running).
            try await store.migrate()
            if configuration.onlineKeyInStore, let signer = state.catalog.freshness {
                let publicFile = configuration.dataDirectory + "/online.pub"
                let key = try await OnlineKey.fromStore(store, publicKeyFile: publicFile)
                try signer.use(key.privateKey)
                logger.info("slot-server: online key from the database, shared by every replica; devices pin its public half ([update] server-key, written to \(publicFile)): \(key.publicKey)")
            }
            try await state.catalog.reload()
            try await state.deviceAuth.directory.start()
            try await state.ddi?.start(store: store)
            await state.payloads.removeStaleUploads()
            metrics.updatePaused(state.catalog.published)
            logger.info("slot-server: \(storeDescription(configuration)), payloads in \(state.payloads.description)")
        }
        return app
    }

    /// `base` behind TLS with the configured certificate chain and key, read
    /// once at start: a file that is missing or not PEM stops the server
    /// before it listens.
    static func tlsServer(_ base: HTTPServerBuilder, _ files: ServerConfiguration.TLSFiles) throws(ServerError) -> HTTPServerBuilder {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificateChain)
        } catch {
            throw ServerError(.configuration, "--tls-cert \(files.certificateChain): not a readable PEM certificate chain (\(error))")
        }
        guard !chain.isEmpty else {
            throw ServerError(.configuration, "--tls-cert \(files.certificateChain): holds no certificate")
        }
        do {
            key = try NIOSSLPrivateKey(file: files.privateKey, format: .pem)
        } catch {
            throw ServerError(.configuration, "--tls-key \(files.privateKey): not a readable PEM private key (\(error))")
        }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        do {
            // Made here once to check it: a key that does not match the certificate fails now, not at the first connection.
            _ = try NIOSSLContext(configuration: tls)
        } catch {
            throw ServerError(.configuration, "--tls-key \(files.privateKey) does not go with --tls-cert \(files.certificateChain) (\(error))")
        }
        do {
            return try .tls(base, tlsConfiguration: tls)
        } catch {
            throw ServerError(.configuration, "--tls-cert/--tls-key: \(error)")
        }
    }

    /// Runs the server until SIGTERM or SIGINT, then shuts down gracefully
    /// (in-flight requests finish, pending check-ins are written).
    public static func run(
        configuration: ServerConfiguration, logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void
    ) async throws(ServerError) {
        let app = try await make(configuration: configuration, logger: logger, onServerRunning: onServerRunning)
        do {
            try await app.runService()
        } catch let error as ServerError {
            throw error
        } catch {
            throw ServerError(.internal, "the server stopped", cause: error)
        }
    }

    /// Makes NIO's event loop threads Swift Concurrency's global executor, so a
    /// request is read, handled and answered on one thread. Call once, from the
    /// main thread, before any task starts (the executable's `main.swift`).
    @discardableResult
    public static func adoptEventLoopsAsGlobalExecutor() -> Bool {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

    static func makeRouter(_ state: ServerState, answerer: CheckAnswerer) -> Router<SlotRequestContext> {
        let router = Router(context: SlotRequestContext.self)
        router.add(middleware: MetricsMiddleware(metrics: state.metrics))
        router.add(middleware: ErrorMiddleware())
        CheckRoute(state: state, answerer: answerer).register(on: router)
        EventsRoute(state: state).register(on: router)
        IdentityRoutes(state: state).register(on: router)
        PayloadRoute(state: state).register(on: router)
        IndexRoute(state: state, cache: IndexCache()).register(on: router)
        DeployRoute(state: state).register(on: router)
        UploadRoute(state: state).register(on: router)
        RolloutRoute(state: state).register(on: router)
        ReleaseQueryRoutes(state: state).register(on: router)
        DevicesRoute(state: state).register(on: router)
        MetricsRoute(state: state).register(on: router)
        DDITokenRoute(state: state).register(on: router)
        if let face = state.ddi { DDIRoutes(state: state, answerer: answerer, face: face).register(on: router) }
        return router
    }

    private static func storeDescription(_ configuration: ServerConfiguration) -> String {
        switch configuration.database {
        case .sqlite: "SQLite at \(configuration.sqlitePath)"
        case .postgres(let url): "PostgreSQL at \(url)"
        }
    }
}
