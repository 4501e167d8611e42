import Foundation
import Hummingbird
import HummingbirdTesting
import SlotServer
import SlotWire
import Testing

/// Per-device and per-address limits on `/v1/check` and `/v1/events`: `429`
/// with `Retry-After` and a JSON error, and a refused request is neither
/// recorded nor counted.
@Suite("Rate limits", .serverThreads)
struct RateLimitTests {
    @Test("a device over its rate gets 429 with Retry-After; other devices and its recorded checks are unaffected")
    func perDevice() async throws {
        var configuration = try await makeServerConfiguration(.sqlite)
        configuration.rateLimits.devicePerMinute = 5
        try await withServer(configuration) { server in
            for _ in 0..<5 { #expect(try await server.http.check("noisy").status == 204) }
            let refused = try await server.http.check("noisy")
            #expect(refused.status == 429)
            #expect(refused.error?.code == "rate-limited", "\(refused.text)")
            let retry = try #require(refused.headers[.retryAfter].flatMap { Int($0) })
            #expect((1...12).contains(retry), "Retry-After \(retry)")
            #expect(try await server.http.check("quiet").status == 204, "another device is not limited")
            // The refused check was not recorded: 5 checks, not 6.
            try await eventually { try await server.admin.devices().devices.first { $0.clientId == "noisy" }?.checks == 5 }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await server.admin.devices().devices.first { $0.clientId == "noisy" }?.checks == 5)

            // Events: the same rule, counted apart from checks.
            let event = DeviceEvent(clientId: "noisy", releaseId: nil, type: .booted, detail: "A", at: "2026-11-29T12:00:00Z")
            for _ in 0..<5 {
                #expect(try await server.http.post("/v1/events", json: [event]).status == 200)
            }
            let events = try await server.http.post("/v1/events", json: [event])
            #expect(events.status == 429 && events.headers[.retryAfter] != nil, "\(events.text)")
        }
    }

    @Test("one address over its rate gets 429 whatever client ids it uses; the slow path too")
    func perAddress() async throws {
        var configuration = try await makeServerConfiguration(.sqlite)
        // 2 at once, then 1 a second: slow enough that a loaded machine (CI runs
        // this beside QEMU) cannot refill the bucket between two requests.
        configuration.rateLimits.addressPerSecond = 1
        try await withServer(configuration) { server in
            var statuses: [Int] = []
            let start = ContinuousClock.now
            for i in 0..<30 { statuses.append(try await server.http.check("dev-\(i)").status) }
            let elapsed = ContinuousClock.now - start
            // However slow the machine, no more than the burst and the refill passed.
            let allowed = 2 + Int(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) + 1
            let passed = statuses.filter { $0 == 204 }.count
            #expect(statuses.prefix(2).allSatisfy { $0 == 204 }, "\(statuses)")
            #expect(passed <= allowed && statuses.contains(429), "\(passed) passed, \(allowed) allowed: \(statuses)")
            #expect(statuses.allSatisfy { $0 == 204 || $0 == 429 })
            // A body the fast path hands to Hummingbird is limited by the same buckets.
            var slow: [Int] = []
            for _ in 0..<5 {
                slow.append(try await server.http.send(.post, "/v1/check", headers: [.contentType: "application/json"],
                    body: Array(#"{ "clientId" : "dev-x", "compatible": "acme-gw", "channel": "stable", "version": "0.9", "slot": "A", "extra": 1 }"#.utf8)).status)
            }
            #expect(slow.contains(429), "\(slow)")
            let recorded = statuses.filter { $0 == 204 }.count + (slow.contains(204) ? 1 : 0)
            try await eventually { try await server.admin.devices().total == recorded }
            #expect(try await server.admin.devices().total == recorded, "refused checks are not recorded")
            // The bucket refills: after a second, one gets through again.
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try await server.http.check("dev-late").status == 204)
        }
    }
}
