import Crypto
import Hummingbird
import FoundationEssentials
import SlotCodec
import SlotWire

/// The `Slot-*` authentication fields of one request, however it arrived
/// (NIO's headers on the fast path, HTTPTypes in a route).
struct DeviceCredentials: Sendable {
    var device: String?
    var time: String?
    var session: String?
    var mac: String?
    var signature: String?

    var isEmpty: Bool { device == nil && time == nil && session == nil && mac == nil && signature == nil }
}

/// Checks that a request comes from the enrolled device it names (see
/// ``DeviceAuth`` for the scheme). Synchronous for the event-loop fast path;
/// the only step that needs the store (a device enrolled on another replica
/// since the last refresh) is left to the async variant.
///
/// A refused request is `401` with a code and a reason, and counts nowhere:
/// callers authenticate before they rate-limit per device, record or tally.
struct DeviceAuthenticator: Sendable {
    let directory: DeviceDirectory
    /// `serve --allow-anonymous-devices`: requests without any `Slot-*`
    /// field are served as before (and bucketed by the client id they
    /// claim); signed ones are still verified.
    let allowAnonymous: Bool

    enum Outcome: Sendable, Equatable {
        /// The device this client id belongs to sent it.
        case device(String)
        /// No credentials, and the server allows that.
        case anonymous
        /// This instance does not know the device yet: ask the store.
        case unknown(String)
    }

    /// Verifies a request MAC'd with a session key.
    func authenticate(
        method: String, path: String, credentials: DeviceCredentials, bodyDigest: SHA256.Digest,
        nowMillis: Int64 = Timestamp.nowMillis()
    ) throws(ServerError) -> Outcome {
        if credentials.isEmpty && allowAnonymous { return .anonymous }
        guard let clientId = credentials.device, let timeText = credentials.time, let ticket = credentials.session,
            let mac = credentials.mac
        else {
            throw ServerError(
                .unauthorized,
                "this server accepts only requests signed by an enrolled device (\(DeviceAuth.deviceHeader), \(DeviceAuth.timeHeader), \(DeviceAuth.sessionHeader), \(DeviceAuth.macHeader))"
            )
        }
        let time = try Self.checkedTime(timeText, nowMillis: nowMillis)
        // One visit to the device's entry, under its shard's lock, for the MAC and the time.
        return try directory.withEntry(clientId) { entry throws(ServerError) -> Outcome in
            // The MAC before anything else about the device: the session key comes from
            // the server's secret, not from the directory, so a forged request is refused
            // before it can cost a store lookup (an unknown id) or learn whether an id is
            // enrolled or revoked. The entry only saves deriving the key again.
            let cached = entry?.session.flatMap { $0.ticket == ticket ? $0 : nil }
            let session: DeviceDirectory.Session
            if let cached { session = cached } else { session = try openSession(ticket, clientId: clientId) }
            guard session.expiryMillis > nowMillis else { throw ServerError(.sessionInvalid, "the session expired; open a new one") }
            var verified = false
            DeviceAuth.withCanonical(method: method, path: path, timeMillis: time, clientId: clientId, bodyDigest: bodyDigest) {
                verified = session.mac.matches(hex: mac, message: $0)
            }
            guard verified else {
                throw ServerError(.unauthorized, "the request's \(DeviceAuth.macHeader) does not verify: altered, or not made with this device's session")
            }
            guard entry != nil else { return .unknown(clientId) }
            guard !entry!.revoked else { throw ServerError(.deviceRevoked, "device \(clientId) is revoked") }
            guard entry!.advance(to: time) else { throw Self.replay(clientId) }
            if cached == nil { entry!.session = session }
            return .device(clientId)
        }
    }

    /// The key a ticket stands for, derived and checked: once a session per device.
    private func openSession(_ ticket: String, clientId: String) throws(ServerError) -> DeviceDirectory.Session {
        guard let expiry = DeviceAuth.ticketExpiry(ticket) else {
            throw ServerError(.sessionInvalid, "the session ticket is malformed")
        }
        guard let secret = directory.sessionSecret else { throw ServerError(.internal, "device sessions are not ready") }
        return .init(ticket: ticket, mac: SessionMAC(key: DeviceAuth.sessionKey(secret: secret, clientId: clientId, ticket: ticket)), expiryMillis: expiry * 1000)
    }

    /// The same, looking a device unknown here up in the store.
    func authenticateLoading(
        method: String, path: String, credentials: DeviceCredentials, body: [UInt8]
    ) async throws(ServerError) -> String? {
        let digest = body.withUnsafeBytes { DeviceAuth.digest(of: $0) }
        switch try authenticate(method: method, path: path, credentials: credentials, bodyDigest: digest) {
        case .device(let id): return id
        case .anonymous: return nil
        case .unknown(let id):
            guard try await directory.lookUp(id) != nil else { throw Self.unknownDevice(id) }
            switch try authenticate(method: method, path: path, credentials: credentials, bodyDigest: digest) {
            case .device(let id): return id
            case .anonymous: return nil
            case .unknown(let id): throw Self.unknownDevice(id)
            }
        }
    }

    /// Verifies a request signed with the device key itself (`/v1/enroll`,
    /// `/v1/session`), against `publicKey`.
    func verifySigned(
        method: String, path: String, credentials: DeviceCredentials, body: [UInt8], clientId: String,
        publicKey: Curve25519.Signing.PublicKey, nowMillis: Int64 = Timestamp.nowMillis()
    ) throws(ServerError) {
        guard let claimed = credentials.device, let timeText = credentials.time, let signatureText = credentials.signature else {
            throw ServerError(
                .unauthorized, "this request must be signed by the device key (\(DeviceAuth.deviceHeader), \(DeviceAuth.timeHeader), \(DeviceAuth.signatureHeader))")
        }
        guard claimed == clientId else {
            throw ServerError(.unauthorized, "\(DeviceAuth.deviceHeader) names \(claimed) but the body is about \(clientId)")
        }
        let time = try Self.checkedTime(timeText, nowMillis: nowMillis)
        guard let signature = Data(base64Encoded: signatureText) else {
            throw ServerError(.unauthorized, "\(DeviceAuth.signatureHeader) is not base64")
        }
        let canonical = DeviceAuth.canonical(method: method, path: path, timeMillis: time, clientId: clientId, body: body)
        guard publicKey.isValidSignature(signature, for: canonical) else {
            throw ServerError(.unauthorized, "the device signature does not verify: altered, or not made with the key of \(clientId)")
        }
        // A device not in the directory yet (enrolling) has no time to pass.
        if directory.entry(clientId) != nil { try advance(clientId, time) }
    }

    /// Whether a request's claims about itself name the device that sent it.
    static func requireSame(_ named: String, as authenticated: String?) throws(ServerError) {
        guard let authenticated, named != authenticated else { return }
        throw ServerError(.unauthorized, "the request speaks for client \(named) but is signed by \(authenticated)")
    }

    static func unknownDevice(_ id: String) -> ServerError {
        ServerError(.deviceUnknown, "device \(id) is not enrolled here; enrol it with the operator's token")
    }

    private static func checkedTime(_ text: String, nowMillis: Int64) throws(ServerError) -> Int64 {
        guard let time = DeviceAuth.canonicalInteger(text[...]), time > 0 else {
            throw ServerError(.unauthorized, "\(DeviceAuth.timeHeader) must be milliseconds since the epoch, got '\(text.prefix(32))'")
        }
        let skew = (time - nowMillis) / 1000
        guard abs(skew) <= DeviceAuth.maxSkewSeconds else {
            throw ServerError(
                .clockSkew,
                "the request's time is \(abs(skew)) s \(skew < 0 ? "behind" : "ahead of") the server's clock (at most \(DeviceAuth.maxSkewSeconds) s): stale, replayed, or a wrong device clock",
                headers: [HTTPFields.Element.Name(DeviceAuth.timeHeader)!: String(nowMillis)])
        }
        return time
    }

    private func advance(_ clientId: String, _ time: Int64) throws(ServerError) {
        guard directory.advance(clientId, to: time) else { throw Self.replay(clientId) }
    }

    private static func replay(_ clientId: String) -> ServerError {
        ServerError(.unauthorized, "the request's time is not newer than the last one accepted from \(clientId): a replay")
    }
}

extension DeviceCredentials {
    /// From HTTPTypes fields (Hummingbird routes).
    init(_ fields: HTTPFields) {
        func value(_ name: String) -> String? { HTTPFields.Element.Name(name).flatMap { fields[$0] } }
        self.init(
            device: value(DeviceAuth.deviceHeader), time: value(DeviceAuth.timeHeader), session: value(DeviceAuth.sessionHeader),
            mac: value(DeviceAuth.macHeader), signature: value(DeviceAuth.signatureHeader))
    }
}
