import Crypto
@testable import SlotServer
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
