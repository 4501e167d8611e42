import Foundation
import Hummingbird
import SlotServer
import SlotWire
import Testing

/// The admin endpoints: deploy and upload, PATCH, listings, stats, devices.
@Suite("Admin endpoints over HTTP", .serverThreads)
struct AdminHTTPTests {
    /// A manifest for `bytes`, signed with the test key.
    func signedDeploy(_ bytes: [UInt8], version: String, rollout: Double? = nil) throws -> DeployRequest {
        let directory = TestSupport.temporaryDirectory("slot-img")
        defer { TestSupport.remove(directory) }
        let path = directory + "/img"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let prepared = try ImagePreparer.prepare(imagePath: path, compatible: "acme-gw", version: version, securityVersion: 2, gzip: false)
        return DeployRequest(
            channel: "stable", manifest: prepared.manifest,
            signature: try ReleaseSignature.sign(prepared.manifest, privateKeyBase64: TestSupport.keys.privateKey), rolloutPercent: rollout)
    }

    @Test("a release is offered only after its complete, matching payload arrived")
    func uploadPublishesOnlyWhenComplete() async throws {
        try await withServer(try await makeServerConfiguration(.sqlite)) { server in
            let bytes = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let deploy = try signedDeploy(bytes, version: "1.0")
            let created = try await server.http.post("/v1/releases", json: deploy, headers: HTTP.admin)
            #expect(created.status == 201)
            let response = try created.json(DeployResponse.self)
            #expect(response.release.state == .pendingUpload && response.release.deployOrder == nil)
            let upload = try #require(response.uploadPath)
            #expect(upload == "/v1/releases/\(response.release.id)/payload")
            #expect(try await server.http.check("dev").status == 204)

            // Same length, one byte changed: refused, nothing published, nothing left on disk.
            var tampered = bytes
            tampered[1234] ^= 0xff
            let refused = try await server.http.send(.put, upload, headers: HTTP.admin, body: tampered)
            #expect(refused.status == 400)
            #expect(refused.error?.message.contains("the manifest says") == true)
            #expect(try await server.http.check("dev").status == 204)
            let payloadsDir = server.configuration.dataDirectory + "/payloads"
            #expect(try FileManager.default.contentsOfDirectory(atPath: payloadsDir).isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: server.configuration.dataDirectory + "/uploads").isEmpty)

            // Declared length differs from the manifest: refused before reading.
            let short = try await server.http.send(.put, upload, headers: HTTP.admin, body: Array(bytes.prefix(100)))
            #expect(short.status == 400 && short.error?.message.contains("payloadSize") == true)

            let accepted = try await server.http.send(.put, upload, headers: HTTP.admin, body: bytes)
            #expect(accepted.status == 200)
            let published = try accepted.json(ReleaseInfo.self)
            #expect(published.state == .published && published.deployOrder != nil)
            #expect(try await server.http.check("dev").json(Release.self).id == published.id)
            #expect(try FileManager.default.contentsOfDirectory(atPath: payloadsDir) == [published.id])

            let again = try await server.http.send(.put, upload, headers: HTTP.admin, body: bytes)
            #expect(again.status == 409 && again.error?.code == "conflict")
        }
    }

    @Test("PATCH widens, narrows, pauses and resumes; listings and stats reflect it")
    func rolloutLifecycle() async throws {
        try await withServer(try await makeServerConfiguration(.sqlite)) { server in
            let clients = (0..<3000).map { "fleet-\($0)" }
            let release = try await server.deploy(version: "1.0", rollout: 10)
            #expect(release.rolloutPercent == 10)
            let at10 = Set(try await server.answers(for: clients).filter { $0.value != nil }.keys)
            #expect(withinBinomialMargin(at10.count, trials: 3000, p: 0.1))

            let widened = try await server.admin.updateRollout(releaseId: release.id, RolloutPatch(rolloutPercent: 50))
            #expect(widened.rolloutPercent == 50)
            let at50 = Set(try await server.answers(for: clients).filter { $0.value != nil }.keys)
            #expect(at10.isSubset(of: at50))
            #expect(withinBinomialMargin(at50.count, trials: 3000, p: 0.5))

            let paused = try await server.admin.updateRollout(releaseId: release.id, RolloutPatch(paused: true))
            #expect(paused.paused && paused.pauseReason == "manual")
            #expect(try await server.answers(for: Array(at50.prefix(50))).values.allSatisfy { $0 == nil })
            _ = try await server.admin.updateRollout(releaseId: release.id, RolloutPatch(paused: false))
            #expect(Set(try await server.answers(for: clients).filter { $0.value != nil }.keys) == at50)

            let second = try await server.deploy(version: "1.1", rollout: 0.5, channel: "beta")
            let listed = try await server.admin.releases()
            #expect(listed.map(\.id) == [release.id, second.id])
            #expect(listed[1].channel == "beta" && listed[1].rolloutPercent == 0.5)
            #expect(try await server.admin.release(second.id) == listed[1])

            let stats = try await server.admin.stats(releaseId: release.id)
            #expect(stats.devicesOffered == at50.count)
            #expect(stats.devicesRunning == 0 && stats.reportingDevices == 0)
            #expect(stats.autoPauseThreshold == 0.05 && stats.autoPauseMinReports == 20)

            // Devices page through in client-id order.
            var all: [DeviceInfo] = []
            var after: String?
            repeat {
                let page = try await server.admin.devices(limit: 700, after: after)
                #expect(page.total == 3000)
                all += page.devices
                after = page.next
            } while after != nil
            #expect(all.count == 3000 && Set(all.map(\.clientId)) == Set(clients))
        }
    }

    @Test("experiment arms deploy side by side, never overlap, and split their range")
    func experimentArms() async throws {
        try await withServer(try await makeServerConfiguration(.sqlite)) { server in
            let a = try await server.deploy(version: "2.0-a", experiment: ExperimentArm(name: "ui-test", start: 0, end: 20))
            let b = try await server.deploy(version: "2.0-b", experiment: ExperimentArm(name: "ui-test", start: 20, end: 40))
            #expect(a.experiment == ExperimentArm(name: "ui-test", start: 0, end: 20))
            let overlapping = await #expect(throws: ServerError.self) {
                try await server.deploy(version: "2.0-c", experiment: ExperimentArm(name: "ui-test", start: 39.99, end: 50))
            }
            #expect(overlapping?.code == .conflict)
            let moved = await #expect(throws: ServerError.self) {
                try await server.admin.updateRollout(releaseId: b.id, RolloutPatch(arm: ArmRange(start: 10, end: 30)))
            }
            #expect(moved?.code == .conflict)
            let percentOnArm = await #expect(throws: ServerError.self) {
                try await server.admin.updateRollout(releaseId: b.id, RolloutPatch(rolloutPercent: 50))
            }
            #expect(percentOnArm?.code == .badRequest)

            let answers = try await server.answers(for: (0..<2000).map { "e-\($0)" })
            let inA = answers.filter { $0.value == a.id }.count
            let inB = answers.filter { $0.value == b.id }.count
            let outside = answers.filter { $0.value == nil }.count
            #expect(inA + inB + outside == 2000)
            for n in [inA, inB] { #expect(withinBinomialMargin(n, trials: 2000, p: 0.2)) }
            for (client, offered) in answers {
                let bucket = RolloutBucket.bucket(key: "ui-test", clientId: client)
                #expect(offered == (bucket < 2000 ? a.id : bucket < 4000 ? b.id : nil))
            }
        }
    }
}
