import Crypto
import Foundation
import Hummingbird
import SlotServer
import SlotWire
import Testing

/// Device identity as an attacker on loopback tries it: unsigned, forged,
/// replayed, stale and borrowed requests, a revoked device, made-up failure
/// reports. Each is refused with 401 and a reason, and none is recorded,
/// counted or able to move a rollout.
@Suite("Device authentication", .serverThreads)
struct DeviceAuthTests {
    static func configuration(_ kind: StoreKind = .sqlite) async throws -> ServerConfiguration {
        var configuration = try await makeServerConfiguration(kind)
        configuration.allowAnonymousDevices = false
        return configuration
    }

    static func token(_ server: TestServer, product: String = "acme-gw") async throws -> String {
        try await server.admin.makeEnrollToken(EnrollTokenRequest(product: product, days: nil)).token
    }

    @Test("unsigned checks and events are refused with 401 and never recorded or tallied")
    func unsignedRefused() async throws {
        try await withServer(try await Self.configuration()) { server in
            let release = try await server.deploy(version: "1.0")
            let check = try await server.http.check("anyone")
            #expect(check.status == 401 && check.error?.code == "unauthorized", "\(check.text)")
            #expect(check.error?.message.contains("signed by an enrolled device") == true)
            #expect(check.headers[.wwwAuthenticate] != nil, "the fast path's 401 has the fields of the slow path's")
            // The slow path (Connection: close goes to Hummingbird) refuses the same way.
            let slow = try await server.http.send(
                .post, "/v1/check", headers: [.contentType: "application/json", .connection: "close"],
                body: try TestDevice().checkBody(clientId: "anyone"))
            #expect(slow.status == 401 && slow.error?.code == "unauthorized", "\(slow.text)")
            #expect(slow.headers[.wwwAuthenticate] == check.headers[.wwwAuthenticate] && slow.body == check.body)
            for i in 0..<25 {
                let event = DeviceEvent(clientId: "made-up-\(i)", releaseId: release.id, type: .fellBack, detail: nil, at: "t")
                #expect(try await server.http.post("/v1/events", json: [event]).status == 401)
            }
            try await Task.sleep(for: .milliseconds(300))
            let stats = try await server.admin.stats(releaseId: release.id)
            #expect(stats.reportingDevices == 0 && !stats.release.paused)
            #expect(try await server.admin.devices().total == 0)
        }
    }

    @Test("enrolment needs a token this server issued and a key that gives the client id it claims")
    func enrolment() async throws {
        try await withServer(try await Self.configuration()) { server in
            let token = try await Self.token(server)
            let device = TestDevice()
            let wrong = try await device.enroll(server.http, token: String(repeating: "0", count: 64))
            #expect(wrong.status == 401 && wrong.error?.message.contains("not one this server issued") == true, "\(wrong.text)")

            // A body naming a client id that is not its key's: refused (ids cannot be squatted).
            let other = TestDevice()
            let body = Array(try WireJSON.encoder().encode(
                EnrollRequest(clientId: other.clientId, publicKey: device.key.publicKey.rawRepresentation.base64EncodedString(), token: token)))
            let squat = try await server.http.send(.post, "/v1/enroll", headers: try other.signed("/v1/enroll", body), body: body)
            #expect(squat.status == 401 && squat.error?.message.contains("is not the one its public key gives") == true, "\(squat.text)")

            // Signed by another key than the one enrolled: refused.
            let own = Array(try WireJSON.encoder().encode(
                EnrollRequest(clientId: device.clientId, publicKey: device.key.publicKey.rawRepresentation.base64EncodedString(), token: token)))
            let forged = try await server.http.send(.post, "/v1/enroll", headers: try device.signed("/v1/enroll", own, as: other.key), body: own)
            #expect(forged.status == 401 && forged.error?.message.contains("signature does not verify") == true, "\(forged.text)")

            let enrolled = try await device.enroll(server.http, token: token)
            #expect(enrolled.status == 200, "\(enrolled.text)")
            #expect(try enrolled.json(EnrollAnswer.self) == EnrollAnswer(clientId: device.clientId, product: "acme-gw"))
            // Again (a device that lost the answer): the same record.
            #expect(try await device.enroll(server.http, token: token).status == 200)
            let list = try await server.admin.enrolledDevices()
            #expect(list.devices.map(\.clientId) == [device.clientId] && list.devices[0].revoked == nil)

            let badDays = try await server.http.post("/v1/enroll-tokens", json: EnrollTokenRequest(product: "x", days: 0), headers: HTTP.admin)
            #expect(badDays.status == 400)
            let noAdmin = try await server.http.post("/v1/enroll-tokens", json: EnrollTokenRequest(product: "x", days: 1))
            #expect(noAdmin.status == 401)
        }
    }

    @Test("a signed check is answered and recorded under the device's own id, on the fast path and the slow one")
    func signedCheck() async throws {
        try await withServer(try await Self.configuration()) { server in
            let release = try await server.deploy(version: "1.0")
            let device = try await TestDevice.enrolled(server.http, token: try await Self.token(server))
            let answer = try await device.check(server.http)
            #expect(answer.status == 200, "\(answer.text)")
            #expect(try answer.json(Release.self).id == release.id)
            var headers = device.maced("/v1/check", try device.checkBody())
            headers[.connection] = "close"
            let slow = try await server.http.send(.post, "/v1/check", headers: headers, body: try device.checkBody())
            #expect(slow.status == 200, "\(slow.text)")
            try await eventually { try await server.admin.devices().devices.map(\.clientId) == [device.clientId] }
            let listed = try #require(try await server.admin.devices().devices.first)
            #expect(listed.product == "acme-gw" && listed.revoked == nil)
            #expect(AdminFormatting.devices([listed]).contains("enrolled (acme-gw)"))
            let event = DeviceEvent(clientId: device.clientId, releaseId: release.id, type: .installed, detail: nil, at: "t")
            #expect(try await device.report(server.http, [event]).status == 200)
            #expect(try await server.admin.stats(releaseId: release.id).reportingDevices == 1)
        }
    }

    @Test("forged, replayed, stale and borrowed requests are refused and change nothing")
    func attacks() async throws {
        try await withServer(try await Self.configuration()) { server in
            let release = try await server.deploy(version: "1.0")
            let token = try await Self.token(server)
            let device = try await TestDevice.enrolled(server.http, token: token)
            let victim = try await TestDevice.enrolled(server.http, token: token)
            let http = server.http

            // A body changed after it was signed.
            let body = try device.checkBody()
            let headers = device.maced("/v1/check", body)
            let altered = try await http.send(.post, "/v1/check", headers: headers, body: try device.checkBody(version: "0.1"))
            #expect(altered.status == 401 && altered.error?.message.contains("does not verify") == true, "\(altered.text)")

            // The same request twice: the second is a replay, on either path.
            let first = try await http.send(.post, "/v1/check", headers: headers, body: body)
            #expect(first.status == 200, "\(first.text)")
            let replayed = try await http.send(.post, "/v1/check", headers: headers, body: body)
            #expect(replayed.status == 401 && replayed.error?.message.contains("replay") == true, "\(replayed.text)")
            var slowHeaders = headers
            slowHeaders[.connection] = "close"
            let slowReplay = try await http.send(.post, "/v1/check", headers: slowHeaders, body: body)
            #expect(slowReplay.status == 401 && slowReplay.error?.message.contains("replay") == true, "\(slowReplay.text)")

            // A request signed for another path (events) cannot be used as a check.
            let moved = try await http.send(.post, "/v1/check", headers: device.maced("/v1/events", body), body: body)
            #expect(moved.status == 401, "\(moved.text)")

            // Too old (captured ten minutes ago), or from the future.
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let stale = try await http.send(.post, "/v1/check", headers: device.maced("/v1/check", body, time: now - 600_000), body: body)
            #expect(stale.status == 401 && stale.error?.code == "clock-skew", "\(stale.text)")
            #expect(stale.error?.message.contains("behind the server's clock") == true, "\(stale.text)")
            // The refusal says the server's time, for a device without a clock to adopt.
            let serverTime = try #require(stale.headers[TestDevice.field(DeviceAuth.timeHeader)].flatMap { Int64($0) })
            #expect(abs(serverTime - now) < 60_000, "Slot-Time \(serverTime), now \(now)")
            let future = try await http.send(.post, "/v1/check", headers: device.maced("/v1/check", body, time: now + 600_000), body: body)
            #expect(future.status == 401 && future.error?.message.contains("ahead of") == true, "\(future.text)")

            // A time spelled another way than the signer writes it.
            var respelled = device.maced("/v1/check", body)
            respelled[TestDevice.field(DeviceAuth.timeHeader)] = "+" + (respelled[TestDevice.field(DeviceAuth.timeHeader)] ?? "")
            let plus = try await http.send(.post, "/v1/check", headers: respelled, body: body)
            #expect(plus.status == 401 && plus.error?.message.contains("must be milliseconds") == true, "\(plus.text)")

            // Another device's identity: the victim's id in the header with this device's session key...
            let asVictim = try await http.send(.post, "/v1/check", headers: device.maced("/v1/check", try device.checkBody(clientId: victim.clientId), device: victim.clientId), body: try device.checkBody(clientId: victim.clientId))
            #expect(asVictim.status == 401 && asVictim.error?.message.contains("does not verify") == true, "\(asVictim.text)")
            // ...or the victim's id in the body of a request properly signed by this device.
            let speaksFor = try device.checkBody(clientId: victim.clientId)
            let borrowed = try await http.send(.post, "/v1/check", headers: device.maced("/v1/check", speaksFor), body: speaksFor)
            #expect(borrowed.status == 401 && borrowed.error?.message.contains("speaks for client \(victim.clientId)") == true, "\(borrowed.text)")
            let reports = (0..<25).map { DeviceEvent(clientId: victim.clientId, releaseId: release.id, type: .fellBack, detail: "\($0)", at: "t") }
            let poisoned = try await device.report(http, reports)
            #expect(poisoned.status == 401 && poisoned.error?.message.contains("speaks for client") == true, "\(poisoned.text)")

            // A ticket that is not the server's, or expired, and a session key that is not the ticket's.
            let saved = (device.ticket, device.sessionKey)
            device.ticket = "v1.\(now / 1000 + 3600).\(String(repeating: "ab", count: 16))"
            let made = try await device.check(http)
            #expect(made.status == 401 && made.error?.message.contains("does not verify") == true, "\(made.text)")
            device.ticket = "v1.\(now / 1000 - 10).\(String(repeating: "ab", count: 16))"
            let expired = try await device.check(http)
            #expect(expired.status == 401 && expired.error?.code == "session-invalid", "\(expired.text)")
            (device.ticket, device.sessionKey) = saved

            // A session asked for in another device's name, signed by this one.
            let exchange = Curve25519.KeyAgreement.PrivateKey()
            let ask = Array(try WireJSON.encoder().encode(SessionRequest(clientId: victim.clientId, exchangeKey: exchange.publicKey.rawRepresentation.base64EncodedString())))
            var askHeaders = try device.signed("/v1/session", ask)
            askHeaders[TestDevice.field(DeviceAuth.deviceHeader)] = victim.clientId
            let stolen = try await http.send(.post, "/v1/session", headers: askHeaders, body: ask)
            #expect(stolen.status == 401 && stolen.error?.message.contains("signature does not verify") == true, "\(stolen.text)")

            // A device the server never enrolled, with a session key it did not get from the
            // server: refused by the MAC, before the server looks for the id anywhere.
            let stranger = TestDevice()
            stranger.ticket = device.ticket
            stranger.sessionKey = device.sessionKey
            let unknown = try await stranger.check(http)
            #expect(unknown.status == 401 && unknown.error?.message.contains("does not verify") == true, "\(unknown.text)")
            #expect(try await stranger.openSession(http).error?.code == "device-unknown")

            // Nothing of that was tallied, and the honest device still works.
            let stats = try await server.admin.stats(releaseId: release.id)
            #expect(stats.reportingDevices == 0 && !stats.release.paused)
            #expect(try await device.check(http).status == 200)
            try await eventually { try await server.admin.devices().devices.map(\.clientId).sorted() == [device.clientId].sorted() }
        }
    }

    @Test("a revoked device is refused checks, events and sessions; others go on")
    func revocation() async throws {
        try await withServer(try await Self.configuration()) { server in
            let release = try await server.deploy(version: "1.0")
            let token = try await Self.token(server)
            let device = try await TestDevice.enrolled(server.http, token: token)
            let other = try await TestDevice.enrolled(server.http, token: token)
            #expect(try await device.check(server.http).status == 200)
            let revoked = try await server.admin.revokeDevice(device.clientId)
            #expect(revoked.revoked != nil)
            try await eventually { try await server.admin.devices().devices.first { $0.clientId == device.clientId }?.revoked != nil }
            let check = try await device.check(server.http)
            #expect(check.status == 401 && check.error?.code == "device-revoked", "\(check.text)")
            let event = DeviceEvent(clientId: device.clientId, releaseId: release.id, type: .fellBack, detail: nil, at: "t")
            #expect(try await device.report(server.http, [event]).error?.code == "device-revoked")
            #expect(try await device.openSession(server.http).error?.code == "device-revoked")
            #expect(try await device.enroll(server.http, token: token).error?.code == "device-revoked")
            #expect(try await other.check(server.http).status == 200)
            #expect(try await server.admin.stats(releaseId: release.id).reportingDevices == 0)
            let unknown = try await server.http.send(.post, "/v1/devices/nobody/revoke", headers: HTTP.admin)
            #expect(unknown.status == 404)
        }
    }

    @Test("--allow-anonymous-devices serves unsigned requests but still verifies signed ones")
    func anonymousMode() async throws {
        var configuration = try await Self.configuration()
        configuration.allowAnonymousDevices = true
        try await withServer(configuration) { server in
            _ = try await server.deploy(version: "1.0")
            #expect(try await server.http.check("lab-device").status == 200)
            try await eventually { try await server.admin.devices().devices.first { $0.clientId == "lab-device" } != nil }
            #expect(AdminFormatting.devices(try await server.admin.devices().devices).contains("anonymous"))
            let device = try await TestDevice.enrolled(server.http, token: try await Self.token(server))
            let body = try device.checkBody()
            let headers = device.maced("/v1/check", body)
            #expect(try await server.http.send(.post, "/v1/check", headers: headers, body: try device.checkBody(version: "0.2")).status == 401)
        }
    }

    @Test("replicas on one PostgreSQL share enrolments, session keys and revocations",
          .enabled(if: PostgresTestDatabase.isConfigured, PostgresTestDatabase.skipReason))
    func replicas() async throws {
        let databaseURL = try await PostgresTestDatabase.create()
        var configuration = try await makeServerConfiguration(.postgres, databaseURL: databaseURL)
        configuration.allowAnonymousDevices = false
        try await withServer(configuration) { a in
            try await withServer(configuration) { b in
                _ = try await a.deploy(version: "1.0")
                // Enrolled and given a session by A, checking with B at once (B looks it up).
                let device = try await TestDevice.enrolled(a.http, token: try await Self.token(a))
                try await eventually { try await b.http.check("probe", version: "0.1").status == 401 }
                #expect(try await device.check(b.http).status == 200)
                #expect(try await device.check(a.http).status == 200)
                _ = try await a.admin.revokeDevice(device.clientId)
                try await eventually { try await device.check(b.http).error?.code == "device-revoked" }
            }
        }
    }
}
