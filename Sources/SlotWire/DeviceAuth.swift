import Crypto
import FoundationEssentials
import SlotCodec

/// How a device proves who it is: one definition for the device and the server.
///
/// - Identity: an Ed25519 key pair made on the device. Its client id is
///   derived from the public key (``clientId(publicKey:)``), so nobody can
///   claim an id without the key, and an id cannot be squatted before its
///   device enrols.
/// - Enrolment (`POST /v1/enroll`, once): the operator's per-product token and
///   the public key, signed by the device key.
/// - Session (`POST /v1/session`, about daily): signed by the device key, it
///   returns a session key sealed to an X25519 key the device made for the
///   occasion, so it stays secret on plain HTTP too. The server keeps no
///   session table: the key is an HMAC of the ticket under a secret the
///   replicas share through the database.
/// - Every check and event batch: an HMAC-SHA256 with the session key over
///   method, path, body digest, time and client id (``canonical(…)``), a few
///   microseconds where an Ed25519 verification costs ~50. Time is in
///   milliseconds and must grow from one request of a device to the next,
///   which makes a captured request useless once its device has moved on, and
///   refused anyway after ``maxSkewSeconds``.
public enum DeviceAuth {
    public static let deviceHeader = "Slot-Device"
    public static let timeHeader = "Slot-Time"
    public static let signatureHeader = "Slot-Signature"
    public static let sessionHeader = "Slot-Session"
    public static let macHeader = "Slot-MAC"

    /// How far a request's time may be from the server's clock.
    public static let maxSkewSeconds: Int64 = 300
    /// How long a session key is good for.
    public static let sessionLifetimeSeconds: Int64 = 86_400

    /// A UUID (version 8, RFC 9562) made of the first 16 bytes of SHA-256 of
    /// the raw public key: the shape client ids always had, bound to the key.
    public static func clientId(publicKey: Curve25519.Signing.PublicKey) -> String {
        var bytes = Array(SHA256.hash(data: publicKey.rawRepresentation).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x80
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = Hex.string(bytes)
        let cut = [8, 12, 16, 20]
        var text = ""
        for (index, character) in hex.enumerated() {
            if cut.contains(index) { text.append("-") }
            text.append(character)
        }
        return text
    }

    /// The bytes a signature or MAC covers. `path` is the request target as sent.
    /// Built byte by byte: the server makes one per check, on the event loop.
    public static func canonical(method: String, path: String, timeMillis: Int64, clientId: String, bodyDigest: SHA256.Digest) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(96 + method.utf8.count + path.utf8.count + clientId.utf8.count)
        out.append(contentsOf: "slotctl-auth-v1\n".utf8)
        out.append(contentsOf: method.utf8)
        out.append(0x0a)
        out.append(contentsOf: path.utf8)
        out.append(0x0a)
        out.append(contentsOf: String(timeMillis).utf8)
        out.append(0x0a)
        out.append(contentsOf: clientId.utf8)
        out.append(0x0a)
        Hex.append(bodyDigest, to: &out)
        return out
    }

    public static func canonical(method: String, path: String, timeMillis: Int64, clientId: String, body: [UInt8]) -> [UInt8] {
        canonical(method: method, path: path, timeMillis: timeMillis, clientId: clientId, bodyDigest: SHA256.hash(data: body))
    }

    /// The per-request MAC, lower-case hex.
    public static func mac(sessionKey: SymmetricKey, canonical: [UInt8]) -> String {
        Hex.string(HMAC<SHA256>.authenticationCode(for: canonical, using: sessionKey))
    }

    /// Constant-time comparison of a received MAC against the expected bytes.
    public static func macMatches(_ received: String, sessionKey: SymmetricKey, canonical: [UInt8]) -> Bool {
        macMatches(received, authenticator: HMAC(key: sessionKey), canonical: canonical)
    }

    /// The same with the session key's HMAC already keyed (the server keeps
    /// one per session: keying costs as much as the MAC itself). The received
    /// hex is compared digit by digit, in constant time, without decoding it first.
    public static func macMatches(_ received: String, authenticator: HMAC<SHA256>, canonical: [UInt8]) -> Bool {
        var authenticator = authenticator
        canonical.withUnsafeBytes { authenticator.update(data: $0) }
        let expected = authenticator.finalize()
        var received = received
        return received.withUTF8 { hex in
            guard hex.count == 64 else { return false }
            return expected.withUnsafeBytes { expected in
                var difference: UInt8 = 0
                var malformed = false
                for i in 0..<32 {
                    let high = Hex.value(hex[2 * i])
                    let low = Hex.value(hex[2 * i + 1])
                    malformed = malformed || high == nil || low == nil
                    difference |= expected[i] ^ ((high ?? 0) << 4 | (low ?? 0))
                }
                return !malformed && difference == 0
            }
        }
    }

    /// The session key a ticket stands for: what the server derives on every
    /// request and seals once for the device.
    public static func sessionKey(secret: SymmetricKey, clientId: String, ticket: String) -> SymmetricKey {
        SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array("slotctl-session-v1\n\(clientId)\n\(ticket)".utf8), using: secret))
    }

    /// A ticket is `v1.EXPIRY.NONCE`: the expiry (epoch seconds) in clear,
    /// since nothing but the server's secret turns it into a key.
    public static func ticketExpiry(_ ticket: String) -> Int64? {
        let parts = ticket.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "v1", Hex.isDigits(parts[2], count: 32) else { return nil }
        return canonicalInteger(parts[1])
    }

    /// A non-negative decimal as a signer writes it: digits only, no sign,
    /// no leading zero, so that one value has one spelling.
    public static func canonicalInteger(_ text: Substring) -> Int64? {
        guard (1...18).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            text.utf8.count == 1 || text.utf8.first != 0x30
        else { return nil }
        return Int64(text)
    }

    /// The key that seals a session key for its device: HKDF over the X25519
    /// shared secret, bound to the ticket.
    public static func sealingKey(shared: SharedSecret, ticket: String) -> SymmetricKey {
        shared.hkdfDerivedSymmetricKey(using: SHA256.self, salt: Array(ticket.utf8), sharedInfo: Array("slotctl session key".utf8), outputByteCount: 32)
    }
}

/// `POST /v1/enroll`, signed by the device key.
public struct EnrollRequest: Codable, Sendable, Equatable {
    public var clientId: String
    /// The raw Ed25519 public key, base64.
    public var publicKey: String
    /// The operator's enrolment token for this product.
    public var token: String

    public init(clientId: String, publicKey: String, token: String) {
        self.clientId = clientId
        self.publicKey = publicKey
        self.token = token
    }
}

/// What `POST /v1/enroll` answers.
public struct EnrollAnswer: Codable, Sendable, Equatable {
    public var clientId: String
    public var product: String

    public init(clientId: String, product: String) {
        self.clientId = clientId
        self.product = product
    }
}

/// `POST /v1/session`, signed by the device key.
public struct SessionRequest: Codable, Sendable, Equatable {
    public var clientId: String
    /// A fresh X25519 public key, base64: the session key comes back sealed to it.
    public var exchangeKey: String

    public init(clientId: String, exchangeKey: String) {
        self.clientId = clientId
        self.exchangeKey = exchangeKey
    }
}

/// What `POST /v1/session` answers.
public struct SessionGrant: Codable, Sendable, Equatable {
    /// Sent back in `Slot-Session` with every request.
    public var ticket: String
    /// Epoch seconds.
    public var expiresAt: Int64
    /// The server's X25519 public key for this exchange, base64.
    public var serverKey: String
    /// The session key, ChaCha20-Poly1305 sealed (nonce, ciphertext, tag), base64.
    public var sealedKey: String

    public init(ticket: String, expiresAt: Int64, serverKey: String, sealedKey: String) {
        self.ticket = ticket
        self.expiresAt = expiresAt
        self.serverKey = serverKey
        self.sealedKey = sealedKey
    }
}
