import Hummingbird
import Logging
import ServiceLifecycle

/// A server started in the background of the current process, on a real
/// port: for tests (restarts, several replicas, the admin CLI against it) and
/// for embedding. ``shutdown()`` is the same graceful path as SIGTERM.
public final class RunningServer: Sendable {
    public let port: Int
    /// `http` or `https`.
    public let scheme: String
    public let metrics: ServerMetrics
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    public var baseURL: String { "\(scheme)://127.0.0.1:\(port)" }

    private init(port: Int, scheme: String, metrics: ServerMetrics, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.scheme = scheme
        self.metrics = metrics
        self.group = group
        self.task = task
    }

    /// `executor`, when given, runs the server's tasks instead of the global
    /// pool (tests give one so their blocking waits cannot starve it).
    public static func start(
        configuration: ServerConfiguration, logger: Logger = Logger(label: "slot-server"), executor: (any TaskExecutor)? = nil
    ) async throws -> RunningServer {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let metrics = ServerMetrics()
        let app = try await SlotServerApp.make(configuration: configuration, logger: logger, metrics: metrics) { port in
            continuation.yield(port)
            continuation.finish()
        }
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        // The stream ends when the group stops, so a server that fails to start is not awaited forever.
        let task = Task(executorPreference: executor) {
            defer { continuation.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            try await task.value
            throw ServerError(.internal, "the server stopped before it listened")
        }
        return RunningServer(port: port, scheme: configuration.scheme, metrics: metrics, group: group, task: task)
    }

    /// Graceful shutdown: stop accepting, finish requests, flush check-ins, close the store.
    public func shutdown() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }
}
