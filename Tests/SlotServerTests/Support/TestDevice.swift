import Crypto
import Foundation
import Hummingbird
import SlotWire

/// A device as the server sees it on the wire: its own Ed25519 key, the
/// enrolment and session exchanges of ``DeviceAuth``, and requests signed
/// (or forged) exactly as the test wants, over raw HTTP.
final class TestDevice: @unchecked Sendable {
    let key = Curve25519.Signing.PrivateKey()
    var clientId: String { DeviceAuth.clientId(publicKey: key.publicKey) }
    var ticket: String?
    var sessionKey: SymmetricKey?
    private var lastTime: Int64 = 0

    /// Milliseconds, growing on every call.
    func nextTime() -> Int64 {
        lastTime = max(Int64(Date().timeIntervalSince1970 * 1000), lastTime + 1)
        return lastTime
    }

    static func field(_ name: String) -> HTTPFields.Element.Name { HTTPFields.Element.Name(name)! }

    /// Headers signed with the device key.
    func signed(_ path: String, _ body: [UInt8], time: Int64? = nil, as signer: Curve25519.Signing.PrivateKey? = nil) throws -> HTTPFields {
        let time = time ?? nextTime()
        let canonical = DeviceAuth.canonical(method: "POST", path: path, timeMillis: time, clientId: clientId, body: body)
        let signature = try (signer ?? key).signature(for: canonical)
        return [
            Self.field(DeviceAuth.deviceHeader): clientId, Self.field(DeviceAuth.timeHeader): String(time),
            Self.field(DeviceAuth.signatureHeader): signature.base64EncodedString(), .contentType: "application/json",
        ]
    }

    /// Headers MAC'd with the session key, claiming to be `device` (this one by default).
    func maced(_ path: String, _ body: [UInt8], time: Int64? = nil, device: String? = nil) -> HTTPFields {
        let time = time ?? nextTime()
        let device = device ?? clientId
        let canonical = DeviceAuth.canonical(method: "POST", path: path, timeMillis: time, clientId: device, body: body)
        return [
            Self.field(DeviceAuth.deviceHeader): device, Self.field(DeviceAuth.timeHeader): String(time),
            Self.field(DeviceAuth.sessionHeader): ticket ?? "", Self.field(DeviceAuth.macHeader): DeviceAuth.mac(sessionKey: sessionKey!, canonical: canonical),
            .contentType: "application/json",
        ]
    }

    func enroll(_ http: HTTP, token: String) async throws -> HTTP.Answer {
        let body = Array(try WireJSON.encoder().encode(
            EnrollRequest(clientId: clientId, publicKey: key.publicKey.rawRepresentation.base64EncodedString(), token: token)))
        return try await http.send(.post, "/v1/enroll", headers: try signed("/v1/enroll", body), body: body)
    }

    /// Opens a session and keeps its key; returns the answer.
    @discardableResult
    func openSession(_ http: HTTP) async throws -> HTTP.Answer {
        let exchange = Curve25519.KeyAgreement.PrivateKey()
        let body = Array(try WireJSON.encoder().encode(
            SessionRequest(clientId: clientId, exchangeKey: exchange.publicKey.rawRepresentation.base64EncodedString())))
        let answer = try await http.send(.post, "/v1/session", headers: try signed("/v1/session", body), body: body)
        if answer.status == 200 {
            let grant = try answer.json(SessionGrant.self)
            let shared = try exchange.sharedSecretFromKeyAgreement(with: .init(rawRepresentation: Data(base64Encoded: grant.serverKey)!))
            let opened = try ChaChaPoly.open(
                ChaChaPoly.SealedBox(combined: Data(base64Encoded: grant.sealedKey)!), using: DeviceAuth.sealingKey(shared: shared, ticket: grant.ticket))
            ticket = grant.ticket
            sessionKey = SymmetricKey(data: opened)
        }
        return answer
    }

    /// Enrols with `token` and opens a session; fails the test otherwise.
    static func enrolled(_ http: HTTP, token: String) async throws -> TestDevice {
        let device = TestDevice()
        let enrolment = try await device.enroll(http, token: token)
        guard enrolment.status == 200 else { throw ServerError(.unauthorized, "enrolment failed: \(enrolment.status) \(enrolment.text)") }
        let session = try await device.openSession(http)
        guard session.status == 200 else { throw ServerError(.unauthorized, "session failed: \(session.status) \(session.text)") }
        return device
    }

    func checkBody(clientId: String? = nil, version: String = "0.9") throws -> [UInt8] {
        Array(try WireJSON.encoder().encode(
            CheckRequest(clientId: clientId ?? self.clientId, compatible: "acme-gw", channel: "stable", version: version, slot: "A")))
    }

    /// A signed check.
    func check(_ http: HTTP, version: String = "0.9") async throws -> HTTP.Answer {
        let body = try checkBody(version: version)
        return try await http.send(.post, "/v1/check", headers: maced("/v1/check", body), body: body)
    }

    /// A signed batch of events.
    func report(_ http: HTTP, _ events: [DeviceEvent]) async throws -> HTTP.Answer {
        let body = Array(try WireJSON.encoder().encode(events))
        return try await http.send(.post, "/v1/events", headers: maced("/v1/events", body), body: body)
    }
}

import SlotServer
