import Crypto
import FoundationEssentials
import SlotCore
import SlotWire

/// `POST /v1/check` and `POST /v1/events`, each exchange on a thread of its
/// own, signed by the device (``DeviceIdentity``) when it has enrolled or has
/// a token: the first exchange enrols it or opens a session as needed.
public struct UpdateServerAPI: Sendable {
    public let baseURL: URL
    /// Seconds for a whole exchange.
    public let timeout: Double
    /// `[update] ca`: the CA bundle the server's certificate must chain to.
    public let caFile: String?
    /// nil: requests go unsigned.
    public let identity: DeviceIdentity?

    public init(server: String, caFile: String? = nil, identity: DeviceIdentity? = nil, timeout: Double = 30) throws(SlotError) {
        guard let url = HTTPURL.parse(server) else {
            throw SlotError(.invalidConfig, "[update] server is not an http(s) URL: '\(server)'")
        }
        baseURL = url
        self.caFile = caFile
        self.identity = identity
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

    /// Whether the server took a batch of events. A 4xx other than 401 and
    /// 429 means it never will (malformed or unknown release): the batch is
    /// dropped, not retried.
    public enum ReportOutcome: Sendable, Equatable {
        case delivered
        case rejected(String)
    }

    public func report(_ events: [DeviceEvent]) async throws(SlotError) -> ReportOutcome {
        let (head, data) = try await post("v1/events", body: events)
        if (200..<300).contains(head.status) { return .delivered }
        // 429 is "later", not "never", and so is 401 (a session, a clock, a revocation
        // that may be undone): the batch stays queued.
        if head.status == 429 || head.status == 401 { throw Self.failure("/v1/events", head, data) }
        if (400..<500).contains(head.status) { return .rejected(Self.failure("/v1/events", head, data).message) }
        throw Self.failure("/v1/events", head, data)
    }

    private func post(_ path: String, body: some Encodable) async throws(SlotError) -> (HTTPClient.Head, Data) {
        let encoded = try Self.encode(body)
        return try await WorkerThread.run { [self] () throws(SlotError) -> (HTTPClient.Head, Data) in
            let client = try HTTPClient(caFile: caFile)
            let (head, data) = try exchange(client, path, encoded)
            return (head, Data(data))
        }
    }

    /// One request, signed when the device signs. A `401` that a new session
    /// or an enrolment can cure is cured and the request sent again, at most
    /// twice; any other answer goes back to the caller.
    private func exchange(_ client: HTTPClient, _ path: String, _ body: [UInt8]) throws(SlotError) -> (HTTPClient.Head, [UInt8]) {
        guard let identity, identity.signs(server: baseURL.absoluteString) else {
            let answer = try send(client, path, body, headers: [])
            if answer.0.status == 401 {
                let refusal = Self.failure("/" + path, answer.0, Data(answer.1))
                throw SlotError(.unauthenticated, "\(refusal.message) (this device has no [update] enroll-token to enrol with)")
            }
            return answer
        }
        var retriedTime = false
        for _ in 0..<3 {
            let session = try openSession(client, identity)
            let answer = try send(client, path, body, headers: identity.macHeaders(session, method: "POST", path: requestPath(path), body: body))
            guard answer.0.status == 401 else { return answer }
            switch Self.errorCode(answer.1) {
            case "device-unknown":
                try enroll(client, identity)
                identity.dropSession()
            case "session-invalid":
                identity.dropSession()
            case "clock-skew" where identity.adoptServerClock(answer.0.value(DeviceAuth.timeHeader)):
                break
            case "unauthorized" where !retriedTime:
                retriedTime = true  // a time the server already saw (another process in the same millisecond)
            default:
                return answer
            }
        }
        return try send(client, path, body, headers: identity.macHeaders(try openSession(client, identity), method: "POST", path: requestPath(path), body: body))
    }

    /// The session key, opened (and the device enrolled first, if the
    /// server does not know it) when there is none or it is about to expire.
    private func openSession(_ client: HTTPClient, _ identity: DeviceIdentity) throws(SlotError) -> DeviceIdentity.Session {
        let server = baseURL.absoluteString
        if let session = identity.currentSession(server: server) { return session }
        for attempt in 0..<2 {
            let exchangeKey = Curve25519.KeyAgreement.PrivateKey()
            let body = try Self.encode(
                SessionRequest(clientId: identity.clientId, exchangeKey: exchangeKey.publicKey.rawRepresentation.base64EncodedString()))
            let (head, data) = try sendSigned(client, "v1/session", body, identity)
            if head.status == 200 {
                let grant: SessionGrant
                do {
                    grant = try WireJSON.decoder().decode(SessionGrant.self, from: Data(data))
                } catch {
                    throw SlotError(.network, "the server's answer to /v1/session is not a session grant: \(error)")
                }
                return try identity.keep(grant, exchangeKey: exchangeKey, server: server)
            }
            guard attempt == 0, head.status == 401, Self.errorCode(data) == "device-unknown" else {
                throw Self.failure("/v1/session", head, Data(data))
            }
            try enroll(client, identity)
        }
        throw SlotError(.unauthenticated, "the server at \(server) does not know device \(identity.clientId) right after enrolling it")
    }

    private func enroll(_ client: HTTPClient, _ identity: DeviceIdentity) throws(SlotError) {
        let server = baseURL.absoluteString
        let request = EnrollRequest(
            clientId: identity.clientId, publicKey: identity.key.publicKey.rawRepresentation.base64EncodedString(),
            token: try identity.enrollmentToken(server: server))
        let body = try Self.encode(request)
        let (head, data) = try sendSigned(client, "v1/enroll", body, identity)
        guard head.status == 200, let answer = try? WireJSON.decoder().decode(EnrollAnswer.self, from: Data(data)) else {
            throw Self.failure("/v1/enroll", head, Data(data))
        }
        identity.enrolled(answer, server: server)
    }

    /// A request signed with the device key, sent again once with the
    /// server's clock if it was refused as too far from it.
    private func sendSigned(_ client: HTTPClient, _ path: String, _ body: [UInt8], _ identity: DeviceIdentity) throws(SlotError) -> (HTTPClient.Head, [UInt8]) {
        func attempt() throws(SlotError) -> (HTTPClient.Head, [UInt8]) {
            let headers = try identity.key.signedHeaders(method: "POST", path: requestPath(path), body: body, timeMillis: identity.nextTimeMillis())
            return try send(client, path, body, headers: headers)
        }
        let answer = try attempt()
        if answer.0.status == 401, Self.errorCode(answer.1) == "clock-skew", identity.adoptServerClock(answer.0.value(DeviceAuth.timeHeader)) {
            return try attempt()
        }
        return answer
    }

    /// The path as the server sees it, which is what is signed.
    private func requestPath(_ path: String) -> String { baseURL.appendingPathComponent(path).path }

    private func send(_ client: HTTPClient, _ path: String, _ body: [UInt8], headers: [String]) throws(SlotError) -> (HTTPClient.Head, [UInt8]) {
        let request = HTTPClient.Request(
            .post, baseURL.appendingPathComponent(path).absoluteString, headers: ["Content-Type: application/json"] + headers,
            body: body, timeout: timeout, stallTimeout: timeout)
        do throws(HTTPClient.Failure) {
            return try client.fetch(request)
        } catch {
            switch error {
            case .refused(let error): throw error
            case .transport(let message, _): throw SlotError(.network, "cannot reach the update server \(baseURL.absoluteString): \(message)")
            }
        }
    }

    private static func encode(_ body: some Encodable) throws(SlotError) -> [UInt8] {
        do {
            return Array(try WireJSON.encoder().encode(body))
        } catch {
            throw SlotError(.usage, "cannot encode the request: \(error)")
        }
    }

    private static func errorCode(_ data: [UInt8]) -> String? {
        (try? WireJSON.decoder().decode(APIErrorBody.self, from: Data(data)))?.error.code
    }

    static func failure(_ what: String, _ head: HTTPClient.Head, _ data: Data) -> SlotError {
        let reason = (try? WireJSON.decoder().decode(APIErrorBody.self, from: data)).map { ": \($0.error.message)" } ?? ""
        let retry = head.value("Retry-After").flatMap { Int($0) }.map { RetryAfter(seconds: max(1, min($0, 86400))) }
        // 401: this device is not (or no longer) accepted; retrying will not change that.
        let code: SlotError.Code = head.status == 401 ? .unauthenticated : .network
        return SlotError(code, "the update server answered \(what) with HTTP \(head.status)\(reason)", cause: retry)
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
