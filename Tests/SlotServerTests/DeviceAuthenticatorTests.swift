import Crypto
@testable import SlotServer
import SlotCodec
import SlotWire
import Testing

/// The authenticator itself, on a clock the test sets: what a session key
/// cached by the first request of a session does not change.
@Suite("Device authenticator")
struct DeviceAuthenticatorTests {
    @Test("a session cached by its first request still expires, and a new ticket replaces it")
    func cachedSessionExpires() async throws {
        try await withStore(.sqlite) { store in
            let key = Curve25519.Signing.PrivateKey()
            let clientId = DeviceAuth.clientId(publicKey: key.publicKey)
            _ = try await store.enrollDevice(DeviceKeyRecord(
                clientId: clientId, publicKey: key.publicKey.rawRepresentation.base64EncodedString(), product: "p", enrolledMillis: 1))
            let directory = DeviceDirectory(store: store)
            try await directory.start()
            let authenticator = DeviceAuthenticator(directory: directory, allowAnonymous: false)
            let secret = try #require(directory.sessionSecret)
            let now: Int64 = 1_900_000_000_000
            let digest = SHA256.hash(data: [UInt8]("{}".utf8))

            func check(ticket: String, at time: Int64) throws(ServerError) -> DeviceAuthenticator.Outcome {
                let sessionKey = DeviceAuth.sessionKey(secret: secret, clientId: clientId, ticket: ticket)
                let canonical = DeviceAuth.canonical(method: "POST", path: "/v1/check", timeMillis: time, clientId: clientId, bodyDigest: digest)
                let credentials = DeviceCredentials(
                    device: clientId, time: String(time), session: ticket, mac: DeviceAuth.mac(sessionKey: sessionKey, canonical: canonical))
                return try authenticator.authenticate(method: "POST", path: "/v1/check", credentials: credentials, bodyDigest: digest, nowMillis: time)
            }
            let nonce = String(repeating: "0f", count: 16)
            let first = "v1.\(now / 1000 + 60).\(nonce)"
            #expect(try check(ticket: first, at: now) == .device(clientId))
            #expect(try check(ticket: first, at: now + 59_000) == .device(clientId), "cached, still valid")
            #expect(directory.entry(clientId)?.session?.ticket == first)
            let expired = #expect(throws: ServerError.self) { try check(ticket: first, at: now + 60_001) }
            #expect(expired?.code == .sessionInvalid)

            let second = "v1.\(now / 1000 + 3600).\(nonce)"
            #expect(try check(ticket: second, at: now + 60_002) == .device(clientId))
            #expect(directory.entry(clientId)?.session?.ticket == second, "the new ticket is the one cached")
            let stale = #expect(throws: ServerError.self) { try check(ticket: second, at: now + 60_002) }
            #expect(stale?.message.contains("a replay") == true, "the same time twice")
        }
    }
}

/// The hand-made pieces of the check path's authentication, held to what
/// they replace: swift-crypto's HMAC, a canonical string built with
/// interpolation, `Int64(_:)`.
@Suite("Device auth primitives")
struct DeviceAuthPrimitiveTests {
    @Test("SessionMAC is HMAC-SHA256 for keys shorter, as long as and longer than a block, and messages of any length")
    func sessionMACIsHMAC() {
        var generator = SystemRandomNumberGenerator()
        for keyLength in [0, 1, 16, 31, 32, 33, 63, 64, 65, 100, 128, 200] {
            let key = SymmetricKey(data: (0..<keyLength).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let mac = SessionMAC(key: key)
            for messageLength in [0, 1, 55, 56, 63, 64, 65, 119, 120, 146, 300] {
                let message = (0..<messageLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let expected = Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
                #expect(message.withUnsafeBytes { Array(mac.code(for: $0)) } == expected, "key \(keyLength), message \(messageLength)")
                #expect(DeviceAuth.mac(sessionKey: key, canonical: message) == Hex.string(expected))
            }
        }
    }

    @Test("SessionMAC.matches takes the MAC in either case and nothing else")
    func matches() {
        let mac = SessionMAC(key: SymmetricKey(size: .bits256))
        let message = Array("slotctl-auth-v1\nPOST\n/v1/check\n1\nid\n00".utf8)
        let hex = message.withUnsafeBytes { Hex.string(mac.code(for: $0)) }
        message.withUnsafeBytes { message in
            #expect(mac.matches(hex: hex, message: message))
            #expect(mac.matches(hex: hex.uppercased(), message: message))
            #expect(!mac.matches(hex: String(hex.dropLast()), message: message), "one digit short")
            #expect(!mac.matches(hex: hex + "0", message: message), "one digit more")
            #expect(!mac.matches(hex: "", message: message))
            for index in [0, 31, 63] {
                var digits = Array(hex.utf8)
                digits[index] = digits[index] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
                #expect(!mac.matches(hex: String(decoding: digits, as: UTF8.self), message: message), "digit \(index) changed")
                digits = Array(hex.utf8)
                digits[index] = UInt8(ascii: "g")
                #expect(!mac.matches(hex: String(decoding: digits, as: UTF8.self), message: message), "digit \(index) not hex")
            }
        }
        #expect(!Array("another message".utf8).withUnsafeBytes { mac.matches(hex: hex, message: $0) })
    }

    @Test("the canonical bytes are the documented lines, for times of every width")
    func canonical() {
        let digest = SHA256.hash(data: Array("{}".utf8))
        for time: Int64 in [0, 1, 9, 10, 99, 100, 1_765_000_000_000, 999_999_999_999_999_999, Int64.max, -1, -10, Int64.min] {
            let made = DeviceAuth.canonical(method: "POST", path: "/v1/check", timeMillis: time, clientId: "d-1", bodyDigest: digest)
            let expected = "slotctl-auth-v1\nPOST\n/v1/check\n\(time)\nd-1\n\(Hex.string(digest))"
            #expect(String(decoding: made, as: UTF8.self) == expected)
        }
        #expect(DeviceAuth.canonical(method: "POST", path: "/p", timeMillis: 5, clientId: "c", body: Array("{}".utf8))
            == DeviceAuth.canonical(method: "POST", path: "/p", timeMillis: 5, clientId: "c", bodyDigest: digest))
    }

    @Test("a canonical integer has one spelling")
    func canonicalInteger() {
        #expect(DeviceAuth.canonicalInteger("0") == 0)
        #expect(DeviceAuth.canonicalInteger("7") == 7)
        #expect(DeviceAuth.canonicalInteger("1765000000000") == 1_765_000_000_000)
        #expect(DeviceAuth.canonicalInteger("999999999999999999") == 999_999_999_999_999_999)
        for refused in ["", "01", "00", "-1", "+1", "1a", " 1", "1 ", "1.0", "1000000000000000000", "١"] {
            #expect(DeviceAuth.canonicalInteger(Substring(refused)) == nil, "\(refused)")
        }
    }
}
