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
    public static func canonical(method: String, path: String, timeMillis: Int64, clientId: String, bodyDigest: SHA256.Digest) -> [UInt8] {
        var canonical: [UInt8] = []
        withCanonical(method: method, path: path, timeMillis: timeMillis, clientId: clientId, bodyDigest: bodyDigest) { canonical = Array($0) }
        return canonical
    }

    public static func canonical(method: String, path: String, timeMillis: Int64, clientId: String, body: [UInt8]) -> [UInt8] {
        canonical(method: method, path: path, timeMillis: timeMillis, clientId: clientId, bodyDigest: body.withUnsafeBytes { digest(of: $0) })
    }

    /// SHA-256 of a request body, the digest the canonical bytes name. Not
    /// `SHA256.hash(data:)`, whose generic `DataProtocol` walk costs more than
    /// the hashing on the check path.
    public static func digest(of body: UnsafeRawBufferPointer) -> SHA256.Digest {
        var hash = SHA256()
        hash.update(bufferPointer: body)
        return hash.finalize()
    }

    /// ``canonical(method:path:timeMillis:clientId:bodyDigest:)`` lent to
    /// `use` from the stack: the server makes one per check, on the event
    /// loop. Not generic, so that a caller in another module calls it directly.
    public static func withCanonical(
        method: String, path: String, timeMillis: Int64, clientId: String, bodyDigest: SHA256.Digest,
        _ use: (UnsafeRawBufferPointer) -> Void
    ) {
        let prefix: StaticString = "slotctl-auth-v1\n"
        let capacity = prefix.utf8CodeUnitCount + method.utf8.count + path.utf8.count + clientId.utf8.count + 21 + 4 + 64
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { out in
            var count = 0
            func put(_ bytes: UnsafeBufferPointer<UInt8>) {
                _ = UnsafeMutableBufferPointer(rebasing: out[count...]).initialize(fromContentsOf: bytes)
                count += bytes.count
            }
            func put(_ text: String) {
                var text = text
                text.withUTF8 { put($0) }
            }
            func put(byte: UInt8) {
                out[count] = byte
                count += 1
            }
            put(UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount))
            put(method)
            put(byte: 0x0a)
            put(path)
            put(byte: 0x0a)
            // The time's digits, without a String.
            if timeMillis < 0 { put(byte: UInt8(ascii: "-")) }
            var digits = 1
            var scale: UInt64 = 10
            while digits < 20 && scale <= timeMillis.magnitude {
                scale = scale &* 10
                digits += 1
            }
            var rest = timeMillis.magnitude
            for i in stride(from: count + digits - 1, through: count, by: -1) {
                out[i] = 0x30 + UInt8(rest % 10)
                rest /= 10
            }
            count += digits
            put(byte: 0x0a)
            put(clientId)
            put(byte: 0x0a)
            bodyDigest.withUnsafeBytes { digest in
                for byte in digest {
                    put(byte: Hex.digit(byte >> 4))
                    put(byte: Hex.digit(byte & 0x0f))
                }
            }
            use(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: out[..<count])))
        }
    }

    /// The per-request MAC, lower-case hex.
    public static func mac(sessionKey: SymmetricKey, canonical: [UInt8]) -> String {
        Hex.string(canonical.withUnsafeBytes { SessionMAC(key: sessionKey).code(for: $0) })
    }

    /// The session key a ticket stands for: what the server derives on every
    /// request and seals once for the device.
    public static func sessionKey(secret: SymmetricKey, clientId: String, ticket: String) -> SymmetricKey {
        SymmetricKey(data: Array("slotctl-session-v1\n\(clientId)\n\(ticket)".utf8).withUnsafeBytes { SessionMAC(key: secret).code(for: $0) })
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
        // Digit by digit: every signed request has one, and `Int64(_:)` of a Substring is generic.
        guard (1...18).contains(text.utf8.count), text.utf8.count == 1 || text.utf8.first != 0x30 else { return nil }
        var value: Int64 = 0
        for byte in text.utf8 {
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            value = value * 10 + Int64(byte - 0x30)
        }
        return value
    }

    /// The key that seals a session key for its device: HKDF over the X25519
    /// shared secret, bound to the ticket.
    public static func sealingKey(shared: SharedSecret, ticket: String) -> SymmetricKey {
        shared.hkdfDerivedSymmetricKey(using: SHA256.self, salt: Array(ticket.utf8), sharedInfo: Array("slotctl session key".utf8), outputByteCount: 32)
    }
}

/// HMAC-SHA256 (RFC 2104) keyed once: the hash states after the inner and
/// outer padded key, so that a MAC costs two short hashes. It exists for the
/// check path: swift-crypto's `HMAC.update` goes through generic
/// `DataProtocol` regions, which cost several times the hashing itself there.
/// Tests hold it to swift-crypto's `HMAC` for keys and messages of all sizes.
public struct SessionMAC: Sendable {
    private let inner: SHA256
    private let outer: SHA256

    public init(key: SymmetricKey) {
        var inner = SHA256()
        var outer = SHA256()
        // The padded key on the stack, zeroed before it is given back.
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 8) { block in
            block.initializeMemory(as: UInt8.self, repeating: 0)
            key.withUnsafeBytes { key in
                // A key longer than the block is hashed first; a shorter one is padded with zeros.
                if key.count > 64 {
                    SHA256.hash(data: key).withUnsafeBytes { block.copyMemory(from: $0) }
                } else {
                    block.copyMemory(from: key)
                }
            }
            for i in 0..<64 { block[i] ^= 0x36 }
            inner.update(bufferPointer: UnsafeRawBufferPointer(block))
            for i in 0..<64 { block[i] ^= 0x36 ^ 0x5c }
            outer.update(bufferPointer: UnsafeRawBufferPointer(block))
            block.initializeMemory(as: UInt8.self, repeating: 0)
        }
        self.inner = inner
        self.outer = outer
    }

    public func code(for message: UnsafeRawBufferPointer) -> SHA256.Digest {
        var inner = self.inner
        inner.update(bufferPointer: message)
        var outer = self.outer
        inner.finalize().withUnsafeBytes { outer.update(bufferPointer: $0) }
        return outer.finalize()
    }

    /// Whether `received` is the lower- or upper-case hex of the MAC of
    /// `message`: compared digit by digit in constant time, without decoding it first.
    public func matches(hex received: String, message: UnsafeRawBufferPointer) -> Bool {
        let expected = code(for: message)
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
