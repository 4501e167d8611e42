import FoundationEssentials
import SlotCore
import SlotWire

/// `POST /v1/check` and `POST /v1/events`, each exchange on a thread of its own.
public struct UpdateServerAPI: Sendable {
    public let baseURL: URL
    /// Seconds for a whole exchange.
    public let timeout: Double
    /// `[update] ca`: the CA bundle the server's certificate must chain to.
    public let caFile: String?

    public init(server: String, caFile: String? = nil, timeout: Double = 30) throws(SlotError) {
        guard let url = HTTPURL.parse(server) else {
            throw SlotError(.invalidConfig, "[update] server is not an http(s) URL: '\(server)'")
        }
        baseURL = url
        self.caFile = caFile
        self.timeout = timeout
    }

    /// What `/v1/check` answered: the release on offer (nil for 204) and
    /// the freshness statement that came with it, unverified.
    public struct CheckAnswer: Sendable {
        public var release: Release?
        public var freshness: String?
    }

    /// Asks for an update.
    public func check(_ request: CheckRequest) async throws(SlotError) -> CheckAnswer {
        let (head, data) = try await post("v1/check", body: request)
        let freshness = head.value(FreshnessStatement.headerName)
        switch head.status {
        case 204:
            return CheckAnswer(release: nil, freshness: freshness)
        case 200:
            do {
                return CheckAnswer(release: try WireJSON.decoder().decode(Release.self, from: data), freshness: freshness)
            } catch {
                throw SlotError(.network, "the server's answer to /v1/check is not a release: \(error)")
            }
        default:
            throw Self.failure("/v1/check", head, data)
        }
    }

    /// Whether the server took a batch of events. A 4xx means it never
    /// will (malformed or unknown release): the batch is dropped, not retried.
    public enum ReportOutcome: Sendable, Equatable {
        case delivered
        case rejected(String)
    }

    public func report(_ events: [DeviceEvent]) async throws(SlotError) -> ReportOutcome {
        let (head, data) = try await post("v1/events", body: events)
        if (200..<300).contains(head.status) { return .delivered }
        // 429 is "later", not "never": the batch stays queued.
        if head.status == 429 { throw Self.failure("/v1/events", head, data) }
        if (400..<500).contains(head.status) { return .rejected(Self.failure("/v1/events", head, data).message) }
        throw Self.failure("/v1/events", head, data)
    }

    private func post(_ path: String, body: some Encodable) async throws(SlotError) -> (HTTPClient.Head, Data) {
        let encoded: Data
        do {
            encoded = try WireJSON.encoder().encode(body)
        } catch {
            throw SlotError(.usage, "cannot encode the request: \(error)")
        }
        let request = HTTPClient.Request(
            .post, baseURL.appendingPathComponent(path).absoluteString, headers: ["Content-Type: application/json"],
            body: Array(encoded), timeout: timeout, stallTimeout: timeout)
        let server = baseURL.absoluteString
        return try await WorkerThread.run { [caFile] () throws(SlotError) -> (HTTPClient.Head, Data) in
            let client = try HTTPClient(caFile: caFile)
            do throws(HTTPClient.Failure) {
                let (head, data) = try client.fetch(request)
                return (head, Data(data))
            } catch {
                switch error {
                case .refused(let error): throw error
                case .transport(let message, _): throw SlotError(.network, "cannot reach the update server \(server): \(message)")
                }
            }
        }
    }

    static func failure(_ what: String, _ head: HTTPClient.Head, _ data: Data) -> SlotError {
        let reason = (try? WireJSON.decoder().decode(APIErrorBody.self, from: data)).map { ": \($0.error.message)" } ?? ""
        let retry = head.value("Retry-After").flatMap { Int($0) }.map { RetryAfter(seconds: max(1, min($0, 86400))) }
        return SlotError(.network, "the update server answered \(what) with HTTP \(head.status)\(reason)", cause: retry)
    }
}

/// A server's `Retry-After` (on `429`, `503`): the daemon waits at least this
/// long before it asks again, whatever its own backoff says.
public struct RetryAfter: Error, Sendable, CustomStringConvertible {
    public let seconds: Int
    public var description: String { "retry after \(seconds) s" }

    /// The hint an error carries, if any.
    public static func hint(in error: SlotError) -> Int? { (error.cause as? RetryAfter)?.seconds }
}
