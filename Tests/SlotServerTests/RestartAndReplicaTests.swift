import Foundation
import Hummingbird
import SlotServer
import SlotWire
import Testing

/// Determinism across restarts and replicas, and check-ins surviving a graceful shutdown.
@Suite("Restarts and replicas", .serverThreads)
struct RestartAndReplicaTests {
    static let clients = (0..<1500).map { "r-\($0)" }

    @Test("answers are identical after a restart; check-ins pending at shutdown are written")
    func restartKeepsAnswersAndCheckIns() async throws {
        var configuration = try await makeServerConfiguration(.sqlite)
        configuration.checkInFlushInterval = .seconds(3600)  // only the shutdown flush can write them
        let first = try await TestServer.start(configuration)
        let stable = try await first.deploy(version: "1.0")
        let canary = try await first.deploy(version: "2.0", rollout: 30)
        let before = try await first.answers(for: Self.clients)
        #expect(Set(before.values) == Set([canary.id, stable.id]))
        try await first.stop()

        let second = try await TestServer.start(configuration)
        do {
            let devices = try await second.admin.devices(limit: 10)
            #expect(devices.total == Self.clients.count)
            #expect(try await second.answers(for: Self.clients) == before)
            try await second.stop()
        } catch {
            try? await second.stop()
            throw error
        }
    }

    @Test("two server instances on one PostgreSQL agree, converge on changes and share auto-pause",
          .enabled(if: PostgresTestDatabase.isConfigured, PostgresTestDatabase.skipReason))
    func twoInstancesOnOnePostgres() async throws {
        let databaseURL = try await PostgresTestDatabase.create()
        let sharedData = TestSupport.temporaryDirectory("slot-shared")
        defer { TestSupport.remove(sharedData) }
        var configuration = try await makeServerConfiguration(.postgres, databaseURL: databaseURL, dataDirectory: sharedData)
        configuration.autoPause = AutoPausePolicy(threshold: 0.05, minReports: 20)
        try await withServer(configuration) { a in
            try await withServer(configuration) { b in
                let stable = try await a.deploy(version: "1.0")
                let canary = try await a.deploy(version: "2.0", rollout: 25)
                // B learns of A's deploys within its catalog refresh interval.
                try await eventually { try await b.http.check("probe-in", version: "0.1").status == 200 }
                try await eventually { try await b.admin.releases().count == 2 }
                let ids = Array(Self.clients.prefix(600))
                try await eventually { try await a.answers(for: ids) == (try await b.answers(for: ids)) }
                let answers = try await a.answers(for: ids)
                #expect(Set(answers.values) == Set([stable.id, canary.id]))

                // Widen on B; A converges, and devices already in stay in.
                _ = try await b.admin.updateRollout(releaseId: canary.id, RolloutPatch(rolloutPercent: 60))
                try await eventually {
                    let fromA = try await a.answers(for: ids)
                    return fromA == (try await b.answers(for: ids)) && fromA.values.filter({ $0 == canary.id }).count > answers.values.filter({ $0 == canary.id }).count
                }
                let widened = try await a.answers(for: ids)
                for (client, offered) in answers where offered == canary.id { #expect(widened[client] == canary.id) }

                // The payload uploaded through A downloads from B (shared data directory).
                let payload = try await b.http.send(.get, "/v1/payloads/\(canary.id)", headers: [.range: "bytes=0-15"])
                #expect(payload.status == 206 && payload.body.count == 16)

                // Failure reports split across both instances pause the canary everywhere.
                let reporters = ids.filter { widened[$0] == canary.id }.prefix(40)
                for (i, client) in reporters.enumerated() {
                    let events = [DeviceEvent(clientId: client, releaseId: canary.id, type: i % 5 == 0 ? .fellBack : .installed, detail: nil, at: "t")]
                    #expect(try await (i % 2 == 0 ? a : b).http.post("/v1/events", json: events).status == 200)
                }
                try await eventually {
                    let fromA = try await a.answers(for: Array(reporters))
                    let fromB = try await b.answers(for: Array(reporters))
                    return fromA.values.allSatisfy { $0 == stable.id } && fromB.values.allSatisfy { $0 == stable.id }
                }
                let stats = try await b.admin.stats(releaseId: canary.id)
                #expect(stats.release.paused && stats.reportingDevices == reporters.count)
                try await eventually {
                    let text = try await b.http.send(.get, "/metrics").text
                    return text.contains("slot_server_release_paused{release=\"\(canary.id)\"} 1")
                }

                // Both instances' check-ins land in the shared devices table.
                try await eventually { try await a.admin.devices(limit: 1).total >= 600 }
            }
        }
    }
}

/// Polls `condition` until it holds (replicas converge within their refresh
/// interval). The deadline is generous because CI runs these tests beside a
/// QEMU lane on two cores; a condition that holds returns at once.
func eventually(
    timeout: Duration = .seconds(30), sourceLocation: SourceLocation = #_sourceLocation, _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return }
        if ContinuousClock.now > deadline {
            Issue.record("condition not met within \(timeout)", sourceLocation: sourceLocation)
            return
        }
        try await Task.sleep(for: .milliseconds(100))
    }
}
