import Foundation
import SlotServer
import SlotWire
import Testing

/// Health-gated rollouts over HTTP: the percentage is a ceiling, and a gated
/// release reaches new devices only as fast as those in trial report back.
@Suite("Health-gated rollouts", .serverThreads)
struct TrialGateTests {
    static let clients = (0..<20).map { "gate-\($0)" }

    static func offered(_ answers: [String: String?], _ release: ReleaseInfo) -> [String] {
        answers.filter { $0.value == release.id }.map(\.key).sorted()
    }

    @Test("at most max-in-trial devices get a gated release; a failure lets one more in, a confirmation two; stats count them")
    func gateOpensAsDevicesReport() async throws {
        try await withServer(try await makeServerConfiguration(.sqlite)) { server in
            let stable = try await server.deploy(version: "1.0")
            let canary = try await server.deploy(version: "2.0", maxInTrial: 3)
            #expect(canary.maxInTrial == 3 && canary.trialTimeoutSeconds == 3600)

            let first = try await server.answers(for: Self.clients)
            let inTrial = Self.offered(first, canary)
            #expect(inTrial.count == 3, "\(first)")
            #expect(first.values.filter { $0 == stable.id }.count == 17, "the rest get what they would without the canary")
            // Asked again (the gate known full here, then asked of the store): the same three, nobody else.
            try await Task.sleep(for: .milliseconds(150))
            #expect(Self.offered(try await server.answers(for: Self.clients), canary) == inTrial)

            // One confirms, one falls back: their two places and one more (for the confirmation) go to new devices.
            let events = [
                DeviceEvent(clientId: inTrial[0], releaseId: canary.id, type: .markedGood, detail: nil, at: "t"),
                DeviceEvent(clientId: inTrial[1], releaseId: canary.id, type: .fellBack, detail: nil, at: "t"),
            ]
            #expect(try await server.http.post("/v1/events", json: events).status == 200)
            try await Task.sleep(for: .milliseconds(150))  // past the "full" this instance remembered
            let after = Self.offered(try await server.answers(for: Self.clients), canary)
            #expect(after.count == 6 && Set(inTrial).isSubset(of: after), "\(after)")

            let stats = try await server.admin.stats(releaseId: canary.id)
            #expect(stats.trial == TrialCounts(inTrial: 4, confirmed: 1, failed: 1, timedOut: 0))
            let text = AdminFormatting.stats(stats)
            #expect(text.contains("4 in trial (at most 3 + confirmed at once, 3600 s each), 1 confirmed, 1 failed, 0 timed out"), "\(text)")
            // A release without a gate counts nobody in trial.
            #expect(try await server.admin.stats(releaseId: stable.id).trial == TrialCounts())

            // The operator lifts the gate: the percentage alone decides, for every device at once.
            await #expect(throws: ServerError.self) { try await server.admin.updateRollout(releaseId: canary.id, RolloutPatch(maxInTrial: -1)) }
            let lifted = try await server.admin.updateRollout(releaseId: canary.id, RolloutPatch(maxInTrial: 0))
            #expect(lifted.maxInTrial == 0)
            #expect(Self.offered(try await server.answers(for: Self.clients), canary).count == 20)
        }
    }

    @Test("deploy refuses a gate out of range, naming the field")
    func badGateIsRefused() async throws {
        try await withServer(try await makeServerConfiguration(.sqlite)) { server in
            await #expect(throws: ServerError.self) { try await server.deploy(version: "3.0", maxInTrial: -1) }
            var options = Deployer.Options(
                imagePath: try TestSupport.makeImage(in: server.configuration.dataDirectory, size: 4096), compatible: "acme-gw",
                channel: "stable", version: "3.1")
            options.trialTimeoutSeconds = 5
            let error = await #expect(throws: ServerError.self) {
                try await Deployer(client: server.admin, privateKeyBase64: TestSupport.keys.privateKey).deploy(options)
            }
            #expect(error?.message.contains("trialTimeoutSeconds") == true, "\(String(describing: error))")
        }
    }

    @Test("two replicas admitting at once never let more than max-in-trial devices in",
          .enabled(if: PostgresTestDatabase.isConfigured, PostgresTestDatabase.skipReason))
    func replicasShareTheGate() async throws {
        let databaseURL = try await PostgresTestDatabase.create()
        let configuration = try await makeServerConfiguration(.postgres, databaseURL: databaseURL)
        defer { TestSupport.remove(configuration.dataDirectory) }
        try await withServer(configuration) { a in
            try await withServer(configuration) { b in
                let canary = try await a.deploy(version: "2.0", maxInTrial: 7)
                try await eventually {
                    let releases = try await b.admin.releases()
                    return releases.count == 1 && releases[0].state == .published
                }
                let clients = (0..<60).map { "race-\($0)" }
                // Both replicas at once, each with its own half of the fleet, in parallel batches.
                let answers = try await withThrowingTaskGroup(of: [String: String?].self) { group in
                    for (i, batch) in stride(from: 0, to: clients.count, by: 10).map({ Array(clients[$0..<$0 + 10]) }).enumerated() {
                        group.addTask { try await (i % 2 == 0 ? a : b).answers(for: batch) }
                    }
                    return try await group.reduce(into: [String: String?]()) { $0.merge($1) { $1 } }
                }
                #expect(answers.values.filter { $0 == canary.id }.count == 7, "\(answers)")
                #expect(try await a.admin.stats(releaseId: canary.id).trial?.inTrial == 7)
            }
        }
    }
}
