import Foundation
import GRDB
import SlotWire

/// The embedded store: one SQLite file (WAL) through GRDB. One server process
/// owns it; several instances need ``PostgresStore``.
public final class SQLiteStore: MetadataStore {
    private let pool: DatabasePool

    public init(path: String) throws(ServerError) {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.label = "slot-server"
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw ServerError(.storage, "cannot open the SQLite database at \(path)", cause: error)
        }
    }

    public func migrate() async throws(ServerError) {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            for statement in SQLiteSchema.v1 { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v2") { db in
            for statement in SQLiteSchema.v2 { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v3") { db in
            for statement in SQLiteSchema.v3 { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v4") { db in
            for statement in SQLiteSchema.v4 { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v5") { db in
            for statement in SQLiteSchema.v5 { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v6") { db in
            for statement in SQLiteSchema.v6 { try db.execute(sql: statement) }
        }
        do {
            try migrator.migrate(pool)
        } catch {
            throw ServerError.storage("migrating the SQLite schema failed", cause: error)
        }
    }

    public func insertRelease(_ release: ReleaseRecord) async throws(ServerError) {
        try await insertRelease(release, indexData: nil)
    }

    public func insertRelease(_ release: ReleaseRecord, indexData: [UInt8]?) async throws(ServerError) {
        let indexRef = try ReleaseRecord.encodeIndexReference(release.index)
        try await write("storing release \(release.id)") { db in
            if try Self.fetchRelease(db, id: release.id) != nil {
                throw ServerError.conflict("release \(release.id) already exists")
            }
            if let arm = release.experiment {
                try ExperimentRules.validate(release, against: try Self.fetchArms(db, experiment: arm.name))
            }
            try db.execute(
                sql: """
                    INSERT INTO releases (id, channel, compatible, version, security_version, size, crc32, sha256,
                      compression, payload_size, signature, external_url, payload_sha256, rollout_bp, paused,
                      pause_reason, auto_pause, experiment, arm_start, arm_end, published_seq, created_ms, published_ms,
                      max_in_trial, trial_timeout_s, payload_sha1, index_ref)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    release.id, release.channel, release.manifest.compatible, release.manifest.version,
                    Int64(release.manifest.securityVersion), Int64(release.manifest.size), release.manifest.crc32,
                    release.manifest.sha256, release.manifest.compression.rawValue, Int64(release.manifest.payloadSize),
                    release.signature, release.externalURL, release.payloadSHA256, release.rolloutBasisPoints,
                    release.paused, release.pauseReason, release.autoPause, release.experiment?.name,
                    release.experiment?.startBucket, release.experiment?.endBucket, nil as Int64?,
                    release.createdAtMillis, nil as Int64?, release.maxInTrial, release.trialTimeoutSeconds, release.payloadSHA1,
                    indexRef,
                ])
            if let indexData {
                try db.execute(sql: "INSERT INTO release_indexes (release_id, data) VALUES (?, ?)", arguments: [release.id, Data(indexData)])
            }
        }
    }

    public func releaseIndex(id: String) async throws(ServerError) -> [UInt8]? {
        try await read("reading the chunk index of \(id)") { db in
            try Data.fetchOne(db, sql: "SELECT data FROM release_indexes WHERE release_id = ?", arguments: [id]).map { [UInt8]($0) }
        }
    }

    public func publishRelease(id: String, payloadSHA256: String?, payloadSHA1: String?, atMillis: Int64) async throws(ServerError) -> ReleaseRecord {
        try await write("publishing release \(id)") { db in
            guard var release = try Self.fetchRelease(db, id: id) else { throw ServerError.notFound("no release \(id)") }
            if release.isPublished { throw ServerError.conflict("release \(id) is already published") }
            let next = (try Int64.fetchOne(db, sql: "SELECT MAX(published_seq) FROM releases") ?? 0) + 1
            try db.execute(
                sql: "UPDATE releases SET published_seq = ?, payload_sha256 = ?, payload_sha1 = COALESCE(?, payload_sha1), published_ms = ? WHERE id = ?",
                arguments: [next, payloadSHA256, payloadSHA1, atMillis, id])
            try db.execute(sql: SQLiteSchema.bumpCatalogVersion)
            release.publishedSeq = next
            release.payloadSHA256 = payloadSHA256
            release.payloadSHA1 = payloadSHA1 ?? release.payloadSHA1
            release.publishedAtMillis = atMillis
            return release
        }
    }

    public func catalogVersion() async throws(ServerError) -> UInt64 {
        try await read("reading the catalog version") { db in
            UInt64(try Int64.fetchOne(db, sql: "SELECT version FROM catalog_state WHERE id = 1") ?? 0)
        }
    }

    public func release(id: String) async throws(ServerError) -> ReleaseRecord? {
        try await read("reading release \(id)") { db in try Self.fetchRelease(db, id: id) }
    }

    public func allReleases() async throws(ServerError) -> [ReleaseRecord] {
        try await read("listing releases") { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM releases ORDER BY published_seq IS NULL, published_seq, created_ms, id"
            ).map(Self.decodeRelease)
        }
    }

    public func publishedReleases() async throws(ServerError) -> [ReleaseRecord] {
        try await read("listing published releases") { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM releases WHERE published_seq IS NOT NULL ORDER BY published_seq"
            ).map(Self.decodeRelease)
        }
    }

    public func updateRollout(id: String, change: RolloutChange) async throws(ServerError) -> ReleaseRecord {
        try await write("updating release \(id)") { db in
            guard var release = try Self.fetchRelease(db, id: id) else { throw ServerError.notFound("no release \(id)") }
            try change.apply(to: &release)
            if let arm = release.experiment {
                try ExperimentRules.validate(release, against: try Self.fetchArms(db, experiment: arm.name))
            }
            try db.execute(
                sql: """
                    UPDATE releases SET rollout_bp = ?, paused = ?, pause_reason = ?, auto_pause = ?,
                      arm_start = ?, arm_end = ?, max_in_trial = ? WHERE id = ?
                    """,
                arguments: [
                    release.rolloutBasisPoints, release.paused, release.pauseReason, release.autoPause,
                    release.experiment?.startBucket, release.experiment?.endBucket, release.maxInTrial, id,
                ])
            try db.execute(sql: SQLiteSchema.bumpCatalogVersion)
            return release
        }
    }

    public func autoPause(id: String, reason: String) async throws(ServerError) -> Bool {
        try await write("auto-pausing release \(id)") { db in
            try db.execute(
                sql: "UPDATE releases SET paused = 1, pause_reason = ? WHERE id = ? AND paused = 0 AND auto_pause = 1",
                arguments: [reason, id])
            guard db.changesCount > 0 else { return false }
            try db.execute(sql: SQLiteSchema.bumpCatalogVersion)
            return true
        }
    }

    public func upsertDevices(_ devices: [DeviceRecord]) async throws(ServerError) {
        guard !devices.isEmpty else { return }
        // The newest check wins whatever order batches (or replicas) flush in; counts add up.
        try await write("recording \(devices.count) device check-ins") { db in
            let statement = try db.cachedStatement(
                sql: """
                    INSERT INTO devices (client_id, compatible, channel, version, slot, last_check_ms, offered_release_id, checks)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (client_id) DO UPDATE SET
                      compatible = CASE WHEN excluded.last_check_ms >= devices.last_check_ms THEN excluded.compatible ELSE devices.compatible END,
                      channel = CASE WHEN excluded.last_check_ms >= devices.last_check_ms THEN excluded.channel ELSE devices.channel END,
                      version = CASE WHEN excluded.last_check_ms >= devices.last_check_ms THEN excluded.version ELSE devices.version END,
                      slot = CASE WHEN excluded.last_check_ms >= devices.last_check_ms THEN excluded.slot ELSE devices.slot END,
                      offered_release_id = CASE WHEN excluded.last_check_ms >= devices.last_check_ms THEN excluded.offered_release_id ELSE devices.offered_release_id END,
                      last_check_ms = MAX(devices.last_check_ms, excluded.last_check_ms),
                      checks = devices.checks + excluded.checks
                    """)
            for device in devices {
                try statement.execute(arguments: [
                    device.clientId, device.compatible, device.channel, device.version, device.slot,
                    device.lastCheckMillis, device.offeredReleaseId, device.checks,
                ])
            }
        }
    }

    public func devices(after: String?, limit: Int) async throws(ServerError) -> [DeviceRecord] {
        try await read("listing devices") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT d.*, k.product AS key_product, k.revoked_ms AS key_revoked_ms
                    FROM devices d LEFT JOIN device_keys k ON k.client_id = d.client_id
                    WHERE d.client_id > ? ORDER BY d.client_id LIMIT ?
                    """,
                arguments: [after ?? "", limit]
            ).map(Self.decodeDevice)
        }
    }

    public func deviceCount() async throws(ServerError) -> Int {
        try await read("counting devices") { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM devices") ?? 0 }
    }

    public func countDevices(runningVersion version: String, channel: String, compatible: String) async throws(ServerError) -> Int {
        try await read("counting devices") { db in
            try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM devices WHERE version = ? AND channel = ? AND compatible = ?",
                arguments: [version, channel, compatible]) ?? 0
        }
    }

    public func countDevices(offered releaseId: String) async throws(ServerError) -> Int {
        try await read("counting devices") { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM devices WHERE offered_release_id = ?", arguments: [releaseId]) ?? 0
        }
    }

    public func insertEvents(_ events: [DeviceEvent], receivedAtMillis: Int64) async throws(ServerError) {
        guard !events.isEmpty else { return }
        try await write("recording \(events.count) events") { db in
            let statement = try db.cachedStatement(
                sql: "INSERT INTO events (client_id, release_id, type, detail, device_at, received_ms) VALUES (?, ?, ?, ?, ?, ?)")
            let outcome = try db.cachedStatement(
                sql: "UPDATE trials SET outcome = ?, outcome_ms = ? WHERE release_id = ? AND client_id = ? AND outcome IS NULL")
            for event in events {
                try statement.execute(arguments: [
                    event.clientId, event.releaseId, event.type.rawValue, event.detail, event.at, receivedAtMillis,
                ])
                if let release = event.releaseId, TrialSchema.outcomes.contains(event.type.rawValue) {
                    try outcome.execute(arguments: [event.type.rawValue, receivedAtMillis, release, event.clientId])
                    if db.changesCount > 0 {
                        let good = event.type == .markedGood ? 1 : 0
                        try db.execute(
                            sql: """
                                INSERT INTO trial_totals (release_id, confirmed, failed) VALUES (?, ?, ?)
                                ON CONFLICT (release_id) DO UPDATE SET confirmed = confirmed + excluded.confirmed, failed = failed + excluded.failed
                                """, arguments: [release, good, 1 - good])
                    }
                }
            }
        }
    }

    public func admitTrial(releaseId: String, clientId: String, max: Int, cutoffMillis: Int64, atMillis: Int64) async throws(ServerError) -> Bool {
        try await write("admitting \(clientId) to the trial of \(releaseId)") { db in
            if try Bool.fetchOne(
                db, sql: "SELECT 1 FROM trials WHERE release_id = ? AND client_id = ?", arguments: [releaseId, clientId]) != nil
            {
                return true
            }
            let totals = try Row.fetchOne(
                db, sql: "SELECT admitted, confirmed, failed FROM trial_totals WHERE release_id = ?", arguments: [releaseId])
            let timedOut = try Int64.fetchOne(
                db, sql: "SELECT COUNT(*) FROM trials WHERE release_id = ? AND outcome IS NULL AND admitted_ms < ?",
                arguments: [releaseId, cutoffMillis]) ?? 0
            let confirmed: Int64 = totals?["confirmed"] ?? 0
            let inTrial = TrialSchema.inTrial(
                admitted: totals?["admitted"] ?? 0, confirmed: confirmed, failed: totals?["failed"] ?? 0, timedOut: timedOut)
            guard inTrial < Int64(max) + confirmed else { return false }
            try db.execute(
                sql: "INSERT INTO trials (release_id, client_id, admitted_ms) VALUES (?, ?, ?)", arguments: [releaseId, clientId, atMillis])
            try db.execute(
                sql: "INSERT INTO trial_totals (release_id, admitted) VALUES (?, 1) ON CONFLICT (release_id) DO UPDATE SET admitted = admitted + 1",
                arguments: [releaseId])
            return true
        }
    }

    public func reported(clientId: String, releaseId: String, types: [String]) async throws(ServerError) -> Bool {
        try await read("reading the reports of \(clientId)") { db in
            let marks = Array(repeating: "?", count: types.count).joined(separator: ", ")
            return try Bool.fetchOne(
                db, sql: "SELECT 1 FROM events WHERE release_id = ? AND type IN (\(marks)) AND client_id = ? LIMIT 1",
                arguments: StatementArguments([releaseId] + types + [clientId])) != nil
        }
    }

    public func ddiDevice(controllerId: String) async throws(ServerError) -> DDIDeviceRecord? {
        try await read("reading DDI device \(controllerId)") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM ddi_devices WHERE controller_id = ?", arguments: [controllerId]).map { row in
                DDIDeviceRecord(
                    controllerId: row["controller_id"], version: row["version"], actionReleaseId: row["action_release"],
                    actionProceeding: row["action_proceeding"], configMillis: row["config_ms"], updatedMillis: row["updated_ms"])
            }
        }
    }

    public func saveDDIDevice(_ device: DDIDeviceRecord) async throws(ServerError) {
        try await write("saving DDI device \(device.controllerId)") { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO ddi_devices (controller_id, version, action_release, action_proceeding, config_ms, updated_ms)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    device.controllerId, device.version, device.actionReleaseId, device.actionProceeding, device.configMillis,
                    device.updatedMillis,
                ])
        }
    }

    public func trialCounts(releaseId: String, cutoffMillis: Int64) async throws(ServerError) -> TrialCounts {
        try await read("counting the trial of \(releaseId)") { db in
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT
                      COALESCE(SUM(CASE WHEN outcome IS NULL AND admitted_ms >= ?1 THEN 1 ELSE 0 END), 0) AS in_trial,
                      COALESCE(SUM(CASE WHEN outcome = 'marked-good' THEN 1 ELSE 0 END), 0) AS confirmed,
                      COALESCE(SUM(CASE WHEN outcome IN ('fell-back', 'failed') THEN 1 ELSE 0 END), 0) AS failed,
                      COALESCE(SUM(CASE WHEN outcome IS NULL AND admitted_ms < ?1 THEN 1 ELSE 0 END), 0) AS timed_out
                    FROM trials WHERE release_id = ?2
                    """, arguments: [cutoffMillis, releaseId])
            guard let row else { return TrialCounts() }
            return TrialCounts(inTrial: row["in_trial"], confirmed: row["confirmed"], failed: row["failed"], timedOut: row["timed_out"])
        }
    }

    public func eventTally(releaseId: String) async throws(ServerError) -> EventTally {
        try await read("tallying events of \(releaseId)") { db in
            var byType: [String: Int] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT type, COUNT(DISTINCT client_id) AS n FROM events WHERE release_id = ? GROUP BY type",
                arguments: [releaseId])
            {
                byType[row["type"]] = row["n"]
            }
            let reporting = try Int.fetchOne(
                db, sql: "SELECT COUNT(DISTINCT client_id) FROM events WHERE release_id = ?", arguments: [releaseId]) ?? 0
            let failed = try Int.fetchOne(
                db,
                sql: "SELECT COUNT(DISTINCT client_id) FROM events WHERE release_id = ? AND type IN ('fell-back', 'failed')",
                arguments: [releaseId]) ?? 0
            return EventTally(reportingDevices: reporting, failedDevices: failed, devicesByType: byType)
        }
    }

    public func close() async {
        try? pool.close()
    }

    // MARK: - Device identity

    public func insertEnrollToken(_ token: EnrollTokenRecord) async throws(ServerError) {
        try await write("storing an enrolment token") { db in
            try db.execute(
                sql: "INSERT INTO enroll_tokens (sha256, product, created_ms, expires_ms) VALUES (?, ?, ?, ?)",
                arguments: [token.sha256, token.product, token.createdMillis, token.expiresMillis])
        }
    }

    public func enrollToken(sha256: String) async throws(ServerError) -> EnrollTokenRecord? {
        try await read("reading an enrolment token") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM enroll_tokens WHERE sha256 = ?", arguments: [sha256]).map {
                EnrollTokenRecord(sha256: $0["sha256"], product: $0["product"], createdMillis: $0["created_ms"], expiresMillis: $0["expires_ms"])
            }
        }
    }

    public func enrollDevice(_ device: DeviceKeyRecord) async throws(ServerError) -> DeviceKeyRecord {
        try await write("enrolling device \(device.clientId)") { db in
            if let existing = try Self.fetchDeviceKey(db, clientId: device.clientId) {
                try DeviceKeyRules.reEnrolment(of: existing, as: device)
                return existing
            }
            var record = device
            record.changeSeq = (try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(change_seq), 0) + 1 FROM device_keys")) ?? 1
            try db.execute(
                sql: "INSERT INTO device_keys (client_id, public_key, product, enrolled_ms, revoked_ms, change_seq) VALUES (?, ?, ?, ?, NULL, ?)",
                arguments: [record.clientId, record.publicKey, record.product, record.enrolledMillis, record.changeSeq])
            return record
        }
    }

    public func deviceKey(clientId: String) async throws(ServerError) -> DeviceKeyRecord? {
        try await read("reading device \(clientId)") { db in try Self.fetchDeviceKey(db, clientId: clientId) }
    }

    public func deviceKeys(changedAfter after: Int64, limit: Int) async throws(ServerError) -> [DeviceKeyRecord] {
        try await read("reading device keys") { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM device_keys WHERE change_seq > ? ORDER BY change_seq LIMIT ?", arguments: [after, limit]
            ).map(Self.decodeDeviceKey)
        }
    }

    public func revokeDevice(clientId: String, atMillis: Int64) async throws(ServerError) -> DeviceKeyRecord? {
        try await write("revoking device \(clientId)") { db in
            guard try Self.fetchDeviceKey(db, clientId: clientId) != nil else { return nil }
            try db.execute(
                sql: """
                    UPDATE device_keys SET revoked_ms = COALESCE(revoked_ms, ?),
                      change_seq = (SELECT MAX(change_seq) + 1 FROM device_keys) WHERE client_id = ?
                    """,
                arguments: [atMillis, clientId])
            return try Self.fetchDeviceKey(db, clientId: clientId)
        }
    }

    public func sharedSecret(named name: String) async throws(ServerError) -> String {
        let candidate = RandomToken.hex256()
        return try await write("reading the \(name) secret") { db in
            try db.execute(sql: "INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", arguments: [name, candidate])
            return try String.fetchOne(db, sql: "SELECT value FROM server_secrets WHERE name = ?", arguments: [name]) ?? candidate
        }
    }

    private static func fetchDeviceKey(_ db: Database, clientId: String) throws -> DeviceKeyRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM device_keys WHERE client_id = ?", arguments: [clientId]).map(decodeDeviceKey)
    }

    private static func decodeDeviceKey(_ row: Row) -> DeviceKeyRecord {
        DeviceKeyRecord(
            clientId: row["client_id"], publicKey: row["public_key"], product: row["product"], enrolledMillis: row["enrolled_ms"],
            revokedMillis: row["revoked_ms"], changeSeq: row["change_seq"])
    }

    // MARK: - Helpers

    private func write<T: Sendable>(_ what: String, _ body: @escaping @Sendable (Database) throws -> T) async throws(ServerError) -> T {
        do {
            return try await pool.write(body)
        } catch let error as ServerError {
            throw error
        } catch {
            throw ServerError.storage("\(what) failed", cause: error)
        }
    }

    private func read<T: Sendable>(_ what: String, _ body: @escaping @Sendable (Database) throws -> T) async throws(ServerError) -> T {
        do {
            return try await pool.read(body)
        } catch let error as ServerError {
            throw error
        } catch {
            throw ServerError.storage("\(what) failed", cause: error)
        }
    }

    private static func fetchRelease(_ db: Database, id: String) throws -> ReleaseRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM releases WHERE id = ?", arguments: [id]).map(decodeRelease)
    }

    private static func fetchArms(_ db: Database, experiment: String) throws -> [ReleaseRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM releases WHERE experiment = ?", arguments: [experiment]).map(decodeRelease)
    }

    private static func decodeRelease(_ row: Row) throws -> ReleaseRecord {
        guard let compression = PayloadCompression(rawValue: row["compression"]) else {
            throw ServerError.storage("release \(row["id"] as String? ?? "?") has an unknown compression")
        }
        let manifest = ReleaseManifest(
            compatible: row["compatible"], version: row["version"],
            securityVersion: UInt64(row["security_version"] as Int64), size: UInt64(row["size"] as Int64),
            crc32: row["crc32"], sha256: row["sha256"], compression: compression,
            payloadSize: UInt64(row["payload_size"] as Int64))
        var experiment: ExperimentSlot?
        if let name: String = row["experiment"] {
            experiment = ExperimentSlot(name: name, startBucket: row["arm_start"], endBucket: row["arm_end"])
        }
        var release = ReleaseRecord(
            id: row["id"], channel: row["channel"], manifest: manifest, signature: row["signature"],
            externalURL: row["external_url"], payloadSHA256: row["payload_sha256"], rolloutBasisPoints: row["rollout_bp"],
            paused: row["paused"], pauseReason: row["pause_reason"], autoPause: row["auto_pause"], experiment: experiment,
            publishedSeq: row["published_seq"], createdAtMillis: row["created_ms"], publishedAtMillis: row["published_ms"])
        release.maxInTrial = row["max_in_trial"]
        release.trialTimeoutSeconds = row["trial_timeout_s"]
        release.payloadSHA1 = row["payload_sha1"]
        release.index = try ReleaseRecord.decodeIndexReference(row["index_ref"])
        return release
    }

    private static func decodeDevice(_ row: Row) -> DeviceRecord {
        DeviceRecord(
            clientId: row["client_id"], compatible: row["compatible"], channel: row["channel"], version: row["version"],
            slot: row["slot"], lastCheckMillis: row["last_check_ms"], offeredReleaseId: row["offered_release_id"],
            checks: row["checks"], product: row["key_product"], revokedMillis: row["key_revoked_ms"])
    }
}
