import Foundation
import Hummingbird
import HummingbirdTesting
import SlotServer
import SlotWire
import Testing

/// `POST /v1/check` and `POST /v1/events` over real HTTP on loopback.
@Suite("Check and events over HTTP", .serverThreads)
struct CheckAndEventsHTTPTests {
    @Test("a check answers 200 with a signed release or 204, and records the device")
    func checkAnswersAndRecords() async throws {
        try await withServer(try await makeServerConfiguration(.sqlite)) { server in
            #expect(try await server.http.check("dev-1").status == 204)
            let deployed = try await server.deploy(version: "1.0.0", size: 10_000)

            let answer = try await server.http.check("dev-1", version: "0.9")
            #expect(answer.status == 200)
            #expect(answer.headers[.contentType] == "application/json")
            let release = try answer.json(Release.self)
            #expect(release.id == deployed.id)
            #expect(release.version == "1.0.0" && release.compatible == "acme-gw" && release.size == 10_000)
            #expect(release.url == "http://127.0.0.1:\(server.running.port)/v1/payloads/\(deployed.id)")
            #expect(ReleaseSignature.isValid(release.signature, for: release.manifest, publicKeyBase64: TestSupport.keys.publicKey))

            // The device already on 1.0.0, another channel, another compatible: nothing.
            #expect(try await server.http.check("dev-2", version: "1.0.0").status == 204)
            #expect(try await server.http.check("dev-3", channel: "beta").status == 204)
            #expect(try await server.http.check("dev-4", compatible: "other-board").status == 204)

            let devices = try await server.admin.devices()
            #expect(devices.total == 4)
            let first = try #require(devices.devices.first { $0.clientId == "dev-1" })
            #expect(first.version == "0.9" && first.slot == "A" && first.channel == "stable" && first.offeredRelease == deployed.id)
            #expect(first.checks == 2)
            #expect(devices.devices.first { $0.clientId == "dev-2" }?.offeredRelease == nil)
        }
    }

    @Test("every check answer carries a freshness statement from the online key, and a deploy raises its version")
    func answersCarryAFreshStatement() async throws {
        let online = ReleaseSignature.generateKeyPair()
        let key = try ReleaseSignature.publicKey(fromBase64: online.publicKey)
        var configuration = try await makeServerConfiguration(.sqlite)
        configuration.onlineKey = online.privateKey
        configuration.freshnessLifetime = 120
        try await withServer(configuration) { server in
            func statement(_ answer: HTTP.Answer) throws -> FreshnessStatement {
                let header = try #require(answer.headers[HTTPFields.Element.Name(FreshnessStatement.headerName)!])
                return try FreshnessStatement.verified(header: header, publicKey: key)
            }
            let now = Int64(Date().timeIntervalSince1970)
            let before = try statement(try await server.http.check("dev-1"))
            #expect((now + 110...now + 130).contains(before.expiresAt), "\(before.expiresAt - now) s ahead")
            try await server.deploy(version: "1.0.0")
            let answer = try await server.http.check("dev-1")
            #expect(answer.status == 200)
            #expect(try statement(answer).catalogVersion > before.catalogVersion)
            // The same statement on the slow path (a body the fast path hands over).
            let slow = try await server.http.send(.post, "/v1/check", headers: [.contentType: "application/json"],
                body: Array(#"{ "clientId" : "dev-2", "compatible": "acme-gw", "channel": "stable", "version": "0.9", "slot": "A", "extra": 1 }"#.utf8))
            #expect(slow.status == 200, "\(slow.text)")
            #expect(try statement(slow).catalogVersion == statement(answer).catalogVersion)
        }
        // Without an online key there is no statement (devices pinning one refuse such answers).
        try await withServer(try await makeServerConfiguration(.sqlite)) { server in
            let answer = try await server.http.check("dev-1")
            #expect(answer.headers[HTTPFields.Element.Name(FreshnessStatement.headerName)!] == nil)
        }
    }

    @Test("--public-url forms the payload URL handed to devices")
    func publicURL() async throws {
        var configuration = try await makeServerConfiguration(.sqlite)
        configuration.publicURL = "https://updates.example.com/fleet"
        try await withServer(configuration) { server in
            let deployed = try await server.deploy(version: "1.0.0")
            let release = try await server.http.check("dev").json(Release.self)
            #expect(release.url == "https://updates.example.com/fleet/v1/payloads/\(deployed.id)")
        }
    }

    @Test("events are stored per device and type; a failure share past the threshold pauses the release")
    func eventsAndAutoPause() async throws {
        var configuration = try await makeServerConfiguration(.sqlite)
        configuration.autoPause = AutoPausePolicy(threshold: 0.05, minReports: 20)
        try await withServer(configuration) { server in
            let base = try await server.deploy(version: "1.0")
            let bad = try await server.deploy(version: "2.0")
            #expect(try await server.http.check("probe", version: "1.0").json(Release.self).id == bad.id)

            func report(_ clients: Range<Int>, _ type: DeviceEventType) async throws {
                let events = clients.map {
                    DeviceEvent(clientId: "dev-\($0)", releaseId: bad.id, type: type, detail: nil, at: "2026-11-29T10:00:00Z")
                }
                let answer = try await server.http.post("/v1/events", json: events)
                #expect(answer.status == 200)
                #expect(answer.text == #"{"accepted":\#(events.count)}"#)
            }
            // 40 devices installed it; 2 failed: exactly 5 %, not over the threshold.
            try await report(0..<40, .installed)
            try await report(0..<2, .failed)
            var stats = try await server.admin.stats(releaseId: bad.id)
            #expect(stats.reportingDevices == 40 && stats.failedDevices == 2 && !stats.release.paused)
            // A third failure: 7.5 %, the release pauses itself.
            try await report(2..<3, .fellBack)
            stats = try await server.admin.stats(releaseId: bad.id)
            #expect(stats.release.paused)
            #expect(stats.release.pauseReason?.hasPrefix("auto:") == true)
            #expect(stats.reportingDevices == 40 && stats.failedDevices == 3)
            #expect(stats.devicesByEvent == ["installed": 40, "failed": 2, "fell-back": 1])

            // Paused: devices are back to the previous release; the metrics say so.
            #expect(try await server.http.check("probe", version: "0.5").json(Release.self).id == base.id)
            let metrics = try await server.http.send(.get, "/metrics").text
            #expect(metrics.contains("slot_server_release_paused{release=\"\(bad.id)\"} 1"))
            #expect(metrics.contains("slot_server_releases_paused 1"))
            #expect(metrics.contains("slot_server_auto_pauses_total 1"))
            #expect(metrics.contains("slot_server_events_total{type=\"fell-back\"} 1"))

            // The operator resumes: auto-pause is off for it from then on.
            let resumed = try await server.admin.updateRollout(releaseId: bad.id, RolloutPatch(paused: false))
            #expect(!resumed.paused && !resumed.autoPause)
            try await report(3..<20, .failed)
            #expect(try await server.admin.release(bad.id).paused == false)

            // Too few reports to judge: 10 devices, half of them falling back.
            let young = try await server.deploy(version: "3.0")
            var events = (0..<10).map { DeviceEvent(clientId: "y-\($0)", releaseId: young.id, type: .installed, detail: nil, at: "t") }
            events += (0..<5).map { DeviceEvent(clientId: "y-\($0)", releaseId: young.id, type: .fellBack, detail: "boot attempts exhausted", at: "t") }
            #expect(try await server.http.post("/v1/events", json: events).status == 200)
            #expect(try await server.admin.release(young.id).paused == false)
            // The 20th reporting device, with no failure of its own, tips the share over: judged on any report.
            let more = (10..<20).map { DeviceEvent(clientId: "y-\($0)", releaseId: young.id, type: .downloaded, detail: nil, at: "t") }
            #expect(try await server.http.post("/v1/events", json: more).status == 200)
            #expect(try await server.admin.release(young.id).paused == true)
        }
    }

    @Test("metrics count checks, answers by release, events by type, and latency")
    func metrics() async throws {
        try await withServer(try await makeServerConfiguration(.sqlite)) { server in
            let release = try await server.deploy(version: "1.0", rollout: 50)
            let answers = try await server.answers(for: (0..<200).map { "m-\($0)" })
            let offered = answers.values.filter { $0 != nil }.count
            _ = try await server.http.post(
                "/v1/events", json: [DeviceEvent(clientId: "m-1", releaseId: release.id, type: .downloaded, detail: nil, at: "t")])
            let text = try await server.http.send(.get, "/metrics").text
            #expect(text.contains("slot_server_checks_total 200"))
            #expect(text.contains("slot_server_check_answers_total{release=\"\(release.id)\"} \(offered)"))
            #expect(text.contains("slot_server_check_answers_total{release=\"none\"} \(200 - offered)"))
            #expect(text.contains("slot_server_events_total{type=\"downloaded\"} 1"))
            #expect(text.contains("slot_server_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/check\",status=\"200\"}"))
            #expect(text.contains("slot_server_http_request_duration_seconds_bucket{"))
            #expect(text.contains("slot_server_releases_paused 0"))
        }
    }
}
