import Crypto
import FoundationEssentials
import SlotCodec
import SlotCore
import SlotWire
import Synchronization

/// What a device needs to sign its requests (see ``DeviceAuth``): its key,
/// the enrolment token if the factory image has one, and the session key,
/// kept in the state directory (mode 0600) so that a one-shot
/// `slotctl update` does not open a session every time.
///
/// A device signs once it has a token or has enrolled with that server; a
/// device with neither sends plain requests, which only a server run with
/// `--allow-anonymous-devices` serves.
public final class DeviceIdentity: Sendable {
    public let key: DeviceKey
    public let tokenPath: String?
    let stateDirectory: String
    private let session = Mutex<Session?>(nil)
    private let sessionLoaded = Atomic<Bool>(false)
    private let lastTime = Mutex<Int64>(0)
    /// Milliseconds to add to the local clock: what the server said its
    /// clock was when it refused a request as too far off (a device without
    /// a real-time clock boots in 1970).
    private let clockOffset = Atomic<Int64>(0)

    struct Session: Codable, Sendable {
        var server: String
        var ticket: String
        var expiresAt: Int64
        /// The session key, base64.
        var key: String
    }

    public init(config: SystemConfig) throws(SlotError) {
        key = try DeviceKey.load(config)
        tokenPath = config.update.enrollTokenPath
        stateDirectory = config.stateDirectory
    }

    public var clientId: String { key.clientId }
    var sessionPath: String { stateDirectory + "/device-session" }
    var enrolledPath: String { stateDirectory + "/device-enrolled" }

    /// Where and as what the device enrolled (`state/device-enrolled`).
    struct Enrolment: Codable, Sendable {
        var server: String
        var clientId: String
        var product: String
    }

    /// Whether requests to `server` carry credentials: with a token, or once
    /// enrolled there.
    public func signs(server: String) -> Bool {
        if tokenPath != nil { return true }
        guard let bytes = try? FileSystem.readFile(enrolledPath, limit: 4096),
            let enrolment = try? WireJSON.decoder().decode(Enrolment.self, from: Data(bytes))
        else { return false }
        return enrolment.server == server
    }

    /// Milliseconds since the epoch, never the same twice in this process:
    /// the server refuses a time it already saw from this device.
    func nextTimeMillis() -> Int64 {
        lastTime.withLock { last in
            last = max(Timestamp.nowMillis() + clockOffset.load(ordering: .relaxed), last + 1)
            return last
        }
    }

    /// Takes the server's clock (its `Slot-Time` on a `clock-skew` refusal)
    /// for this device's request times from now on. False when the answer
    /// carries no usable time.
    func adoptServerClock(_ value: String?) -> Bool {
        guard let value, let serverMillis = DeviceAuth.canonicalInteger(value[...]) else { return false }
        clockOffset.store(serverMillis - Timestamp.nowMillis(), ordering: .relaxed)
        lastTime.withLock { $0 = 0 }
        return true
    }

    // MARK: - Sessions

    /// The session for `server`, from memory or the state directory, if it
    /// has more than a minute left.
    func currentSession(server: String) -> Session? {
        if !sessionLoaded.exchange(true, ordering: .acquiringAndReleasing) {
            if let bytes = try? FileSystem.readFile(sessionPath, limit: 4096),
                let saved = try? WireJSON.decoder().decode(Session.self, from: Data(bytes))
            {
                session.withLock { $0 = saved }
            }
        }
        return session.withLock { current in
            guard let current, current.server == server, current.expiresAt > Timestamp.nowMillis() / 1000 + 60 else { return nil }
            return current
        }
    }

    /// The session key in the server's answer to `/v1/session`, sealed to
    /// `exchangeKey`: untrusted bytes, so every malformation is an error.
    public static func openGrant(_ grant: SessionGrant, exchangeKey: Curve25519.KeyAgreement.PrivateKey) throws(SlotError) -> Data {
        guard let serverKey = Data(base64Encoded: grant.serverKey), let theirs = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: serverKey),
            let sealed = Data(base64Encoded: grant.sealedKey), DeviceAuth.ticketExpiry(grant.ticket) != nil
        else {
            throw SlotError(.network, "the server's session grant is malformed")
        }
        let opened: Data
        do {
            let shared = try exchangeKey.sharedSecretFromKeyAgreement(with: theirs)
            opened = try ChaChaPoly.open(ChaChaPoly.SealedBox(combined: sealed), using: DeviceAuth.sealingKey(shared: shared, ticket: grant.ticket))
        } catch {
            throw SlotError(.network, "the server's session key does not open: \(error)")
        }
        guard opened.count == 32 else { throw SlotError(.network, "the server's session key is \(opened.count) bytes, not 32") }
        return opened
    }

    func keep(_ grant: SessionGrant, exchangeKey: Curve25519.KeyAgreement.PrivateKey, server: String) throws(SlotError) -> Session {
        let opened = try Self.openGrant(grant, exchangeKey: exchangeKey)
        let kept = Session(server: server, ticket: grant.ticket, expiresAt: grant.expiresAt, key: opened.base64EncodedString())
        session.withLock { $0 = kept }
        if let encoded = try? WireJSON.encoder().encode(kept) {
            // Losing it costs only a new session next time.
            try? FileSystem.writeFileAtomically(sessionPath, Array(encoded), mode: 0o600)
        }
        return kept
    }

    func dropSession() {
        session.withLock { $0 = nil }
        try? FileSystem.unlinkIfPresent(sessionPath)
    }

    /// The `Slot-*` fields of a request MAC'd with the session key.
    func macHeaders(_ session: Session, method: String, path: String, body: [UInt8]) -> [String] {
        let time = nextTimeMillis()
        let key = SymmetricKey(data: Data(base64Encoded: session.key) ?? Data())
        let canonical = DeviceAuth.canonical(method: method, path: path, timeMillis: time, clientId: clientId, body: body)
        return [
            "\(DeviceAuth.deviceHeader): \(clientId)", "\(DeviceAuth.timeHeader): \(time)",
            "\(DeviceAuth.sessionHeader): \(session.ticket)", "\(DeviceAuth.macHeader): \(DeviceAuth.mac(sessionKey: key, canonical: canonical))",
        ]
    }

    // MARK: - Enrolment

    /// The token from `[update] enroll-token`.
    func enrollmentToken(server: String) throws(SlotError) -> String {
        guard let tokenPath else {
            throw SlotError(.unauthenticated, "device \(clientId) is not enrolled with \(server), and [update] enroll-token is not set")
        }
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(tokenPath, limit: 4096)
        } catch {
            throw SlotError(.invalidConfig, "[update] enroll-token: cannot read '\(tokenPath)'", cause: error.cause)
        }
        guard let token = String(validating: bytes, as: UTF8.self)?.trimmingWhitespace(), !token.isEmpty else {
            throw SlotError(.invalidConfig, "[update] enroll-token: '\(tokenPath)' is empty")
        }
        return token
    }

    func enrolled(_ answer: EnrollAnswer, server: String) {
        if let encoded = try? WireJSON.encoder().encode(Enrolment(server: server, clientId: answer.clientId, product: answer.product)) {
            try? FileSystem.writeFileAtomically(enrolledPath, Array(encoded))
        }
    }
}
