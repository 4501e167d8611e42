import Foundation
import SlotServer
import SlotWire
import Testing

/// The storage contract, written once and run against SQLite and PostgreSQL
/// (``SQLiteStoreTests``, ``PostgresStoreTests``).
enum StoreContract {
    static func migrateTwiceAndRoundTrip(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await store.migrate()  // a second instance starting on the same database
            var record = TestSupport.record(id: "1.0-aaaa0001", version: "1.0", rolloutBasisPoints: 1234)
            record.manifest.compression = .gzip
            record.manifest.payloadSize = 77
            record.manifest.size = UInt64(Int64.max)
            try await store.insertRelease(record)
            let read = try #require(try await store.release(id: record.id))
            #expect(read == record)
            #expect(read.isPublished == false)
            #expect(try await store.release(id: "missing") == nil)
            #expect(try await store.publishedReleases().isEmpty)
        }
    }

    /// The number the freshness statement carries: it moves with every change a
    /// device can see, in the same transaction, and with nothing else.
    static func catalogVersionGrowsWithEveryVisibleChange(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let start = try await store.catalogVersion()
            try await store.insertRelease(TestSupport.record(id: "v", version: "1"))
            #expect(try await store.catalogVersion() == start, "an unpublished release is invisible")
            _ = try await store.publishRelease(id: "v", payloadSHA256: nil, atMillis: 1)
            #expect(try await store.catalogVersion() == start + 1)
            _ = try await store.updateRollout(id: "v", change: RolloutChange(rolloutBasisPoints: 2500))
            #expect(try await store.catalogVersion() == start + 2)
            #expect(try await store.autoPause(id: "v", reason: "auto: test") == true)
            #expect(try await store.catalogVersion() == start + 3)
            #expect(try await store.autoPause(id: "v", reason: "auto: again") == false)
            #expect(try await store.catalogVersion() == start + 3, "a pause that changes nothing is no new version")
            await #expect(throws: ServerError.self) { try await store.publishRelease(id: "v", payloadSHA256: nil, atMillis: 2) }
            #expect(try await store.catalogVersion() == start + 3, "a refused change is no new version")
            try await store.migrate()
            #expect(try await store.catalogVersion() == start + 3, "migrating again keeps the version")
        }
    }

    static func duplicateIdIsRefused(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await store.insertRelease(TestSupport.record(id: "dup", version: "1"))
            let error = await #expect(throws: ServerError.self) {
                try await store.insertRelease(TestSupport.record(id: "dup", version: "2"))
            }
            #expect(error?.code == .conflict)
        }
    }

    static func publishOrderIsDeployOrder(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            for i in 0..<3 { try await store.insertRelease(TestSupport.record(id: "r\(i)", version: "v\(i)", createdAt: Int64(10 - i))) }
            // Published in the order 2, 0, 1: deploy order follows publishing, not creation.
            let p2 = try await store.publishRelease(id: "r2", payloadSHA256: "aa", atMillis: 5)
            let p0 = try await store.publishRelease(id: "r0", payloadSHA256: nil, atMillis: 6)
            let p1 = try await store.publishRelease(id: "r1", payloadSHA256: "cc", atMillis: 7)
            #expect(p2.publishedSeq! < p0.publishedSeq! && p0.publishedSeq! < p1.publishedSeq!)
            #expect(p2.payloadSHA256 == "aa" && p2.publishedAtMillis == 5)
            #expect(try await store.publishedReleases().map(\.id) == ["r2", "r0", "r1"])
            #expect(try await store.allReleases().map(\.id) == ["r2", "r0", "r1"])

            let again = await #expect(throws: ServerError.self) { try await store.publishRelease(id: "r0", payloadSHA256: "x", atMillis: 1) }
            #expect(again?.code == .conflict)
            let missing = await #expect(throws: ServerError.self) { try await store.publishRelease(id: "nope", payloadSHA256: "x", atMillis: 1) }
            #expect(missing?.code == .notFound)
        }
    }

    static func concurrentPublishesGetDistinctOrder(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let ids = (0..<24).map { "c\($0)" }
            for id in ids { try await store.insertRelease(TestSupport.record(id: id, version: id)) }
            let seqs = try await withThrowingTaskGroup(of: Int64.self) { group in
                for id in ids { group.addTask { try await store.publishRelease(id: id, payloadSHA256: nil, atMillis: 1).publishedSeq! } }
                return try await group.reduce(into: [Int64]()) { $0.append($1) }
            }
            #expect(Set(seqs).count == ids.count)
        }
    }

    static func rolloutChangesAndPauseSemantics(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await store.insertRelease(TestSupport.record(id: "p", version: "2", rolloutBasisPoints: 1000))
            var r = try await store.updateRollout(id: "p", change: RolloutChange(rolloutBasisPoints: 5000))
            #expect(r.rolloutBasisPoints == 5000 && !r.paused)
            r = try await store.updateRollout(id: "p", change: RolloutChange(paused: true))
            #expect(r.paused && r.pauseReason == "manual" && r.autoPause)
            // A manual pause is not overridden by auto-pause and resuming it keeps auto-pause on.
            #expect(try await store.autoPause(id: "p", reason: "auto: x") == false)
            r = try await store.updateRollout(id: "p", change: RolloutChange(paused: false))
            #expect(!r.paused && r.pauseReason == nil && r.autoPause)

            #expect(try await store.autoPause(id: "p", reason: "auto: too many failures") == true)
            #expect(try await store.autoPause(id: "p", reason: "auto: again") == false)
            r = try #require(try await store.release(id: "p"))
            #expect(r.paused && r.pauseReason == "auto: too many failures")
            // Resuming an auto-paused release turns auto-pause off: the operator decided.
            r = try await store.updateRollout(id: "p", change: RolloutChange(paused: false))
            #expect(!r.paused && !r.autoPause)
            #expect(try await store.autoPause(id: "p", reason: "auto: x") == false)
            r = try await store.updateRollout(id: "p", change: RolloutChange(autoPause: true))
            #expect(r.autoPause)
            #expect(try await store.release(id: "p") == r)

            let missing = await #expect(throws: ServerError.self) { try await store.updateRollout(id: "x", change: RolloutChange(paused: true)) }
            #expect(missing?.code == .notFound)
        }
    }

    static func experimentArmsNeverOverlap(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            func arm(_ start: Int, _ end: Int) -> ExperimentSlot { ExperimentSlot(name: "exp1", startBucket: start, endBucket: end) }
            try await store.insertRelease(TestSupport.record(id: "a", version: "a", experiment: arm(0, 1000)))
            try await store.insertRelease(TestSupport.record(id: "b", version: "b", experiment: arm(1000, 2000)))
            // Another experiment may use the same range: different bucket key.
            try await store.insertRelease(
                TestSupport.record(id: "z", version: "z", experiment: ExperimentSlot(name: "exp2", startBucket: 0, endBucket: 1000)))

            let overlap = await #expect(throws: ServerError.self) {
                try await store.insertRelease(TestSupport.record(id: "c", version: "c", experiment: arm(1999, 2500)))
            }
            #expect(overlap?.code == .conflict)
            let otherChannel = await #expect(throws: ServerError.self) {
                try await store.insertRelease(TestSupport.record(id: "d", version: "d", channel: "beta", experiment: arm(5000, 6000)))
            }
            #expect(otherChannel?.code == .conflict)

            // Moving an arm onto another is refused, and nothing changed.
            let moved = await #expect(throws: ServerError.self) {
                try await store.updateRollout(id: "b", change: RolloutChange(armBuckets: 500..<1500))
            }
            #expect(moved?.code == .conflict)
            #expect(try await store.release(id: "b")?.experiment == arm(1000, 2000))
            let widened = try await store.updateRollout(id: "b", change: RolloutChange(armBuckets: 1000..<3000))
            #expect(widened.experiment == arm(1000, 3000))
            let notArm = await #expect(throws: ServerError.self) {
                try await store.insertRelease(TestSupport.record(id: "plain", version: "p"))
                _ = try await store.updateRollout(id: "plain", change: RolloutChange(armBuckets: 0..<10))
            }
            #expect(notArm?.code == .badRequest)
        }
    }

    static func racingArmsOnlyOneWins(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let outcomes = await withTaskGroup(of: Bool.self) { group in
                for i in 0..<8 {
                    group.addTask {
                        let record = TestSupport.record(
                            id: "race\(i)", version: "r\(i)", experiment: ExperimentSlot(name: "race", startBucket: i * 10, endBucket: 5000))
                        return (try? await store.insertRelease(record)) != nil
                    }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
        }
    }

    static func devicesCoalesceAndPage(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            func device(_ id: String, version: String, offered: String?, checks: Int, at: Int64) -> DeviceRecord {
                DeviceRecord(
                    clientId: id, compatible: "acme-gw", channel: "stable", version: version, slot: "A",
                    lastCheckMillis: at, offeredReleaseId: offered, checks: checks)
            }
            let many = (0..<2500).map { device(String(format: "dev-%05d", $0), version: "1.0", offered: nil, checks: 1, at: 1) }
            try await store.upsertDevices(many.shuffled())
            try await store.upsertDevices([
                device("dev-00007", version: "2.0", offered: "rel-x", checks: 3, at: 99),
                device("Zeta", version: "2.0", offered: "rel-x", checks: 1, at: 5),
            ])
            #expect(try await store.deviceCount() == 2501)
            var seen: [String] = []
            var after: String?
            repeat {
                let page = try await store.devices(after: after, limit: 1000)
                seen += page.map(\.clientId)
                after = page.count == 1000 ? page.last?.clientId : nil
            } while after != nil
            #expect(seen.count == 2501)
            #expect(seen == seen.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }))
            #expect(seen.first == "Zeta")  // byte order: uppercase first, the same in both databases
            let seven = try #require(try await store.devices(after: "dev-00006", limit: 1).first)
            #expect(seven == device("dev-00007", version: "2.0", offered: "rel-x", checks: 4, at: 99))
            // A late batch with an older check adds its count but does not roll the device back.
            try await store.upsertDevices([device("dev-00007", version: "0.1", offered: nil, checks: 2, at: 50)])
            #expect(try await store.devices(after: "dev-00006", limit: 1).first == device("dev-00007", version: "2.0", offered: "rel-x", checks: 6, at: 99))
            #expect(try await store.countDevices(offered: "rel-x") == 2)
            #expect(try await store.countDevices(runningVersion: "2.0", channel: "stable", compatible: "acme-gw") == 2)
            #expect(try await store.countDevices(runningVersion: "1.0", channel: "beta", compatible: "acme-gw") == 0)
        }
    }

    static func eventsTallyDistinctDevices(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            func event(_ client: String, _ type: DeviceEventType, release: String? = "rel-1") -> DeviceEvent {
                DeviceEvent(clientId: client, releaseId: release, type: type, detail: type == .failed ? "disk full\nline 2" : nil, at: "2026-01-01T00:00:00Z")
            }
            try await store.insertEvents(
                [
                    event("d1", .downloaded), event("d1", .downloaded), event("d1", .installed), event("d2", .downloaded),
                    event("d2", .fellBack), event("d3", .failed), event("d3", .failed), event("d4", .booted, release: "rel-2"),
                    event("d5", .booted, release: nil),
                ], receivedAtMillis: 42)
            let tally = try await store.eventTally(releaseId: "rel-1")
            #expect(tally.reportingDevices == 3)
            #expect(tally.failedDevices == 2)
            #expect(tally.devicesByType == ["downloaded": 2, "installed": 1, "fell-back": 1, "failed": 1])
            #expect(try await store.eventTally(releaseId: "rel-2") == EventTally(reportingDevices: 1, failedDevices: 0, devicesByType: ["booted": 1]))
            #expect(try await store.eventTally(releaseId: "none") == EventTally(reportingDevices: 0, failedDevices: 0, devicesByType: [:]))
        }
    }

    /// The health gate's admissions: at most `max` plus the confirmed in trial,
    /// an admitted device stays admitted, outcomes and timeouts free places;
    /// racing admissions never take more than the places there are.
    static func trialAdmissions(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            func admit(_ client: String, max: Int = 2, cutoff: Int64 = 0, at: Int64 = 1000) async throws -> Bool {
                try await store.admitTrial(releaseId: "rel-1", clientId: client, max: max, cutoffMillis: cutoff, atMillis: at)
            }
            #expect(try await admit("d1"))
            #expect(try await admit("d2"))
            #expect(try await !admit("d3"), "two places, both taken")
            #expect(try await admit("d1"), "admitted once, admitted again")
            #expect(try await store.trialCounts(releaseId: "rel-1", cutoffMillis: 0) == TrialCounts(inTrial: 2))
            // d1 confirms: its place and one more, for d3 and d4. Events for other releases or of other types change nothing.
            try await store.insertEvents(
                [
                    DeviceEvent(clientId: "d1", releaseId: "rel-1", type: .markedGood, detail: nil, at: "t"),
                    DeviceEvent(clientId: "d2", releaseId: "rel-1", type: .installed, detail: nil, at: "t"),
                    DeviceEvent(clientId: "d2", releaseId: "rel-9", type: .fellBack, detail: nil, at: "t"),
                ], receivedAtMillis: 2000)
            #expect(try await admit("d3", at: 3000))
            #expect(try await admit("d4", at: 3000))
            #expect(try await !admit("d5", at: 3000), "d2, d3, d4 in trial: 2 + 1 confirmed")
            // A failure frees its place and opens none.
            try await store.insertEvents([DeviceEvent(clientId: "d2", releaseId: "rel-1", type: .fellBack, detail: nil, at: "t")], receivedAtMillis: 4000)
            #expect(try await store.trialCounts(releaseId: "rel-1", cutoffMillis: 0) == TrialCounts(inTrial: 2, confirmed: 1, failed: 1))
            #expect(try await admit("d5", at: 4500))
            #expect(try await !admit("d6", at: 4500))
            // d3, d4 (admitted at 3000) time out once the cutoff passes them; d5 does not.
            #expect(try await store.trialCounts(releaseId: "rel-1", cutoffMillis: 3001) == TrialCounts(inTrial: 1, confirmed: 1, failed: 1, timedOut: 2))
            #expect(try await admit("d6", max: 1, cutoff: 3001, at: 5000), "1 + 1 confirmed, d5 alone in trial")
            #expect(try await !admit("d7", max: 1, cutoff: 3001, at: 5000))
            #expect(try await store.trialCounts(releaseId: "rel-2", cutoffMillis: 0) == TrialCounts())

            // Forty admissions racing for five places.
            let admitted = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<40 {
                    group.addTask { try await store.admitTrial(releaseId: "rel-race", clientId: "r\(i)", max: 5, cutoffMillis: 0, atMillis: 1) }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(admitted == 5)
        }
    }
}

@Suite("Storage contract on SQLite", .serverThreads)
struct SQLiteStoreTests {
    @Test func migrateTwiceAndRoundTrip() async throws { try await StoreContract.migrateTwiceAndRoundTrip(.sqlite) }
    @Test func duplicateIdIsRefused() async throws { try await StoreContract.duplicateIdIsRefused(.sqlite) }
    @Test func catalogVersionGrowsWithEveryVisibleChange() async throws { try await StoreContract.catalogVersionGrowsWithEveryVisibleChange(.sqlite) }
    @Test func publishOrderIsDeployOrder() async throws { try await StoreContract.publishOrderIsDeployOrder(.sqlite) }
    @Test func concurrentPublishesGetDistinctOrder() async throws { try await StoreContract.concurrentPublishesGetDistinctOrder(.sqlite) }
    @Test func rolloutChangesAndPauseSemantics() async throws { try await StoreContract.rolloutChangesAndPauseSemantics(.sqlite) }
    @Test func experimentArmsNeverOverlap() async throws { try await StoreContract.experimentArmsNeverOverlap(.sqlite) }
    @Test func racingArmsOnlyOneWins() async throws { try await StoreContract.racingArmsOnlyOneWins(.sqlite) }
    @Test func devicesCoalesceAndPage() async throws { try await StoreContract.devicesCoalesceAndPage(.sqlite) }
    @Test func eventsTallyDistinctDevices() async throws { try await StoreContract.eventsTallyDistinctDevices(.sqlite) }
    @Test func trialAdmissions() async throws { try await StoreContract.trialAdmissions(.sqlite) }
}

@Suite("Storage contract on PostgreSQL", .serverThreads, .enabled(if: PostgresTestDatabase.isConfigured, PostgresTestDatabase.skipReason))
struct PostgresStoreTests {
    @Test func migrateTwiceAndRoundTrip() async throws { try await StoreContract.migrateTwiceAndRoundTrip(.postgres) }
    @Test func duplicateIdIsRefused() async throws { try await StoreContract.duplicateIdIsRefused(.postgres) }
    @Test func catalogVersionGrowsWithEveryVisibleChange() async throws { try await StoreContract.catalogVersionGrowsWithEveryVisibleChange(.postgres) }
    @Test func publishOrderIsDeployOrder() async throws { try await StoreContract.publishOrderIsDeployOrder(.postgres) }
    @Test func concurrentPublishesGetDistinctOrder() async throws { try await StoreContract.concurrentPublishesGetDistinctOrder(.postgres) }
    @Test func rolloutChangesAndPauseSemantics() async throws { try await StoreContract.rolloutChangesAndPauseSemantics(.postgres) }
    @Test func experimentArmsNeverOverlap() async throws { try await StoreContract.experimentArmsNeverOverlap(.postgres) }
    @Test func racingArmsOnlyOneWins() async throws { try await StoreContract.racingArmsOnlyOneWins(.postgres) }
    @Test func devicesCoalesceAndPage() async throws { try await StoreContract.devicesCoalesceAndPage(.postgres) }
    @Test func eventsTallyDistinctDevices() async throws { try await StoreContract.eventsTallyDistinctDevices(.postgres) }
    @Test func trialAdmissions() async throws { try await StoreContract.trialAdmissions(.postgres) }
}
