import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import SlotWire

/// The fleet store: PostgreSQL through postgres-nio, shared by any number of
/// stateless server instances. The client's connection pool runs as a
/// `Service` (``run()``) for as long as the server does.
public final class PostgresStore: MetadataStore, Service {
    private let client: PostgresClient
    private let logger: Logger
    public let url: PostgresURL

    public init(url: PostgresURL, logger: Logger) {
        self.url = url
        self.logger = logger
        self.client = PostgresClient(configuration: url.clientConfiguration, backgroundLogger: logger)
    }

    /// Runs the connection pool until cancelled or gracefully shut down.
    public func run() async throws {
        await client.run()
    }

    public func migrate() async throws(ServerError) {
        try await transaction("migrating the PostgreSQL schema") { connection, logger in
            try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.migrationLockKey))", logger: logger)
            for statement in PostgresSchema.v1 + PostgresSchema.v2 + PostgresSchema.v3 + PostgresSchema.v4 + PostgresSchema.v5 + PostgresSchema.v6
                + PostgresSchema.v7
            {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
        }
    }

    public func insertRelease(_ release: ReleaseRecord) async throws(ServerError) {
        try await insertRelease(release, indexData: nil)
    }

    public func insertRelease(_ release: ReleaseRecord, indexData: [UInt8]?) async throws(ServerError) {
        let indexRef = try ReleaseRecord.encodeIndexReference(release.index)
        try await transaction("storing release \(release.id)") { connection, logger in
            if let arm = release.experiment {
                try await Self.lockExperiment(arm.name, connection, logger)
                let arms = try await Self.fetchReleases(
                    connection, logger, "SELECT * FROM releases WHERE experiment = \(arm.name)")
                try ExperimentRules.validate(release, against: arms)
            }
            let m = release.manifest
            let inserted = try await connection.query(
                """
                INSERT INTO releases (id, channel, compatible, version, security_version, size, crc32, sha256,
                  compression, payload_size, signature, external_url, payload_sha256, rollout_bp, paused,
                  pause_reason, auto_pause, experiment, arm_start, arm_end, published_seq, created_ms, published_ms,
                  max_in_trial, trial_timeout_s, payload_sha1, index_ref)
                VALUES (\(release.id), \(release.channel), \(m.compatible), \(m.version), \(Int64(m.securityVersion)),
                  \(Int64(m.size)), \(m.crc32), \(m.sha256), \(m.compression.rawValue), \(Int64(m.payloadSize)),
                  \(release.signature), \(release.externalURL), \(release.payloadSHA256), \(release.rolloutBasisPoints),
                  \(release.paused), \(release.pauseReason), \(release.autoPause), \(release.experiment?.name),
                  \(release.experiment?.startBucket), \(release.experiment?.endBucket),
                  NULL,
                  \(release.createdAtMillis), \(release.publishedAtMillis),
                  \(Int64(release.maxInTrial)), \(Int64(release.trialTimeoutSeconds)), \(release.payloadSHA1),
                  \(indexRef))
                ON CONFLICT (id) DO NOTHING
                RETURNING id
                """, logger: logger
            ).collect()
            if inserted.isEmpty { throw ServerError.conflict("release \(release.id) already exists") }
            if let indexData {
                try await connection.query(
                    "INSERT INTO release_indexes (release_id, data) VALUES (\(release.id), \(ByteBuffer(bytes: indexData)))", logger: logger)
            }
        }
    }

    public func publishRelease(id: String, payloadSHA256: String?, payloadSHA1: String?, atMillis: Int64) async throws(ServerError) -> ReleaseRecord {
        try await transaction("publishing release \(id)") { connection, logger in
            let rows = try await Self.fetchReleases(
                connection, logger,
                """
                UPDATE releases SET published_seq = nextval('slot_publish_seq'), payload_sha256 = \(payloadSHA256),
                  payload_sha1 = COALESCE(\(payloadSHA1), payload_sha1), published_ms = \(atMillis)
                WHERE id = \(id) AND published_seq IS NULL RETURNING *
                """)
            if let release = rows.first {
                try await connection.query(PostgresSchema.bumpCatalogVersion, logger: logger)
                return release
            }
            let existing = try await Self.fetchReleases(connection, logger, "SELECT * FROM releases WHERE id = \(id)")
            if existing.isEmpty { throw ServerError.notFound("no release \(id)") }
            throw ServerError.conflict("release \(id) is already published")
        }
    }

    public func catalogVersion() async throws(ServerError) -> UInt64 {
        try await query("reading the catalog version") { connection, logger in
            for try await version in try await connection.query("SELECT version FROM catalog_state WHERE id = 1", logger: logger).decode(Int64.self) {
                return UInt64(version)
            }
            return 0
        }
    }

    public func release(id: String) async throws(ServerError) -> ReleaseRecord? {
        try await query("reading release \(id)") { connection, logger in
            try await Self.fetchReleases(connection, logger, "SELECT * FROM releases WHERE id = \(id)").first
        }
    }

    public func allReleases() async throws(ServerError) -> [ReleaseRecord] {
        try await query("listing releases") { connection, logger in
            try await Self.fetchReleases(
                connection, logger, "SELECT * FROM releases ORDER BY published_seq NULLS LAST, created_ms, id")
        }
    }

    public func publishedReleases() async throws(ServerError) -> [ReleaseRecord] {
        try await query("listing published releases") { connection, logger in
            try await Self.fetchReleases(
                connection, logger, "SELECT * FROM releases WHERE published_seq IS NOT NULL ORDER BY published_seq")
        }
    }

    public func updateRollout(id: String, change: RolloutChange) async throws(ServerError) -> ReleaseRecord {
        try await transaction("updating release \(id)") { connection, logger in
            guard
                var release = try await Self.fetchReleases(
                    connection, logger, "SELECT * FROM releases WHERE id = \(id) FOR UPDATE"
                ).first
            else { throw ServerError.notFound("no release \(id)") }
            try change.apply(to: &release)
            if let arm = release.experiment {
                try await Self.lockExperiment(arm.name, connection, logger)
                let arms = try await Self.fetchReleases(
                    connection, logger, "SELECT * FROM releases WHERE experiment = \(arm.name)")
                try ExperimentRules.validate(release, against: arms)
            }
            try await connection.query(
                """
                UPDATE releases SET rollout_bp = \(release.rolloutBasisPoints), paused = \(release.paused),
                  pause_reason = \(release.pauseReason), auto_pause = \(release.autoPause),
                  arm_start = \(release.experiment?.startBucket), arm_end = \(release.experiment?.endBucket),
                  max_in_trial = \(Int64(release.maxInTrial))
                WHERE id = \(id)
                """, logger: logger)
            try await connection.query(PostgresSchema.bumpCatalogVersion, logger: logger)
            return release
        }
    }

    public func autoPause(id: String, reason: String) async throws(ServerError) -> Bool {
        try await transaction("auto-pausing release \(id)") { connection, logger in
            let rows = try await connection.query(
                """
                UPDATE releases SET paused = TRUE, pause_reason = \(reason)
                WHERE id = \(id) AND paused = FALSE AND auto_pause = TRUE RETURNING id
                """, logger: logger
            ).collect()
            guard !rows.isEmpty else { return false }
            try await connection.query(PostgresSchema.bumpCatalogVersion, logger: logger)
            return true
        }
    }

    public func upsertDevices(_ devices: [DeviceRecord]) async throws(ServerError) {
        guard !devices.isEmpty else { return }
        try await transaction("recording \(devices.count) device check-ins") { connection, logger in
            // One statement per 5000 devices: arrays bound as parameters, unnested server-side.
            // The newest check wins whatever order batches (or replicas) flush in; counts add up.
            var start = 0
            while start < devices.count {
                let chunk = devices[start..<min(start + 5000, devices.count)]
                start += chunk.count
                try await connection.query(
                    """
                    INSERT INTO devices (client_id, compatible, channel, version, slot, last_check_ms, offered_release_id, checks)
                    SELECT c, p, ch, v, s, t, NULLIF(o, ''), n
                    FROM UNNEST(\(chunk.map(\.clientId))::text[], \(chunk.map(\.compatible))::text[],
                      \(chunk.map(\.channel))::text[], \(chunk.map(\.version))::text[], \(chunk.map(\.slot))::text[],
                      \(chunk.map(\.lastCheckMillis))::bigint[], \(chunk.map { $0.offeredReleaseId ?? "" })::text[],
                      \(chunk.map { Int64($0.checks) })::bigint[]) AS u(c, p, ch, v, s, t, o, n)
                    ON CONFLICT (client_id) DO UPDATE SET
                      compatible = CASE WHEN EXCLUDED.last_check_ms >= devices.last_check_ms THEN EXCLUDED.compatible ELSE devices.compatible END,
                      channel = CASE WHEN EXCLUDED.last_check_ms >= devices.last_check_ms THEN EXCLUDED.channel ELSE devices.channel END,
                      version = CASE WHEN EXCLUDED.last_check_ms >= devices.last_check_ms THEN EXCLUDED.version ELSE devices.version END,
                      slot = CASE WHEN EXCLUDED.last_check_ms >= devices.last_check_ms THEN EXCLUDED.slot ELSE devices.slot END,
                      offered_release_id = CASE WHEN EXCLUDED.last_check_ms >= devices.last_check_ms THEN EXCLUDED.offered_release_id ELSE devices.offered_release_id END,
                      last_check_ms = GREATEST(devices.last_check_ms, EXCLUDED.last_check_ms),
                      checks = devices.checks + EXCLUDED.checks
                    """, logger: logger)
            }
        }
    }

    public func devices(after: String?, limit: Int) async throws(ServerError) -> [DeviceRecord] {
        try await query("listing devices") { connection, logger in
            var result: [DeviceRecord] = []
            let rows = try await connection.query(
                """
                SELECT d.*, k.product AS key_product, k.revoked_ms AS key_revoked_ms
                FROM devices d LEFT JOIN device_keys k ON k.client_id = d.client_id
                WHERE d.client_id COLLATE "C" > \(after ?? "") ORDER BY d.client_id COLLATE "C" LIMIT \(limit)
                """,
                logger: logger)
            for try await row in rows {
                let r = row.makeRandomAccess()
                result.append(
                    DeviceRecord(
                        clientId: try r["client_id"].decode(String.self), compatible: try r["compatible"].decode(String.self),
                        channel: try r["channel"].decode(String.self), version: try r["version"].decode(String.self),
                        slot: try r["slot"].decode(String.self), lastCheckMillis: try r["last_check_ms"].decode(Int64.self),
                        offeredReleaseId: try r["offered_release_id"].decode(String?.self),
                        checks: Int(try r["checks"].decode(Int64.self)), product: try r["key_product"].decode(String?.self),
                        revokedMillis: try r["key_revoked_ms"].decode(Int64?.self)))
            }
            return result
        }
    }

    public func deviceCount() async throws(ServerError) -> Int {
        try await count("counting devices", "SELECT COUNT(*) FROM devices")
    }

    public func countDevices(runningVersion version: String, channel: String, compatible: String) async throws(ServerError) -> Int {
        try await count(
            "counting devices",
            "SELECT COUNT(*) FROM devices WHERE version = \(version) AND channel = \(channel) AND compatible = \(compatible)")
    }

    public func countDevices(offered releaseId: String) async throws(ServerError) -> Int {
        try await count("counting devices", "SELECT COUNT(*) FROM devices WHERE offered_release_id = \(releaseId)")
    }

    public func insertEvents(_ events: [DeviceEvent], receivedAtMillis: Int64) async throws(ServerError) {
        guard !events.isEmpty else { return }
        let outcomes = events.filter { $0.releaseId != nil && TrialSchema.outcomes.contains($0.type.rawValue) }
        try await transaction("recording \(events.count) events") { connection, logger in
            if !outcomes.isEmpty {
                try await connection.query(
                    """
                    WITH changed AS (
                      UPDATE trials SET outcome = u.t, outcome_ms = \(receivedAtMillis)
                      FROM UNNEST(\(outcomes.map(\.clientId))::text[], \(outcomes.map { $0.releaseId ?? "" })::text[],
                        \(outcomes.map(\.type.rawValue))::text[]) AS u(c, r, t)
                      WHERE trials.release_id = u.r AND trials.client_id = u.c AND trials.outcome IS NULL
                      RETURNING trials.release_id, trials.outcome)
                    INSERT INTO trial_totals (release_id, confirmed, failed)
                    SELECT release_id, COUNT(*) FILTER (WHERE outcome = 'marked-good'), COUNT(*) FILTER (WHERE outcome <> 'marked-good')
                    FROM changed GROUP BY release_id
                    ON CONFLICT (release_id) DO UPDATE SET
                      confirmed = trial_totals.confirmed + EXCLUDED.confirmed, failed = trial_totals.failed + EXCLUDED.failed
                    """, logger: logger)
            }
            try await connection.query(
                """
                INSERT INTO events (client_id, release_id, type, detail, device_at, received_ms)
                SELECT c, NULLIF(r, ''), t, NULLIF(d, ''), a, \(receivedAtMillis)
                FROM UNNEST(\(events.map(\.clientId))::text[], \(events.map { $0.releaseId ?? "" })::text[],
                  \(events.map(\.type.rawValue))::text[], \(events.map { $0.detail ?? "" })::text[],
                  \(events.map(\.at))::text[]) AS u(c, r, t, d, a)
                """, logger: logger)
        }
    }

    public func eventTally(releaseId: String) async throws(ServerError) -> EventTally {
        try await query("tallying events of \(releaseId)") { connection, logger in
            var byType: [String: Int] = [:]
            let rows = try await connection.query(
                "SELECT type, COUNT(DISTINCT client_id) FROM events WHERE release_id = \(releaseId) GROUP BY type",
                logger: logger)
            for try await (type, n) in rows.decode((String, Int64).self) { byType[type] = Int(n) }
            var reporting = 0
            var failed = 0
            let totals = try await connection.query(
                """
                SELECT COUNT(DISTINCT client_id),
                  COUNT(DISTINCT client_id) FILTER (WHERE type IN ('fell-back', 'failed'))
                FROM events WHERE release_id = \(releaseId)
                """, logger: logger)
            for try await (r, f) in totals.decode((Int64, Int64).self) {
                reporting = Int(r)
                failed = Int(f)
            }
            return EventTally(reportingDevices: reporting, failedDevices: failed, devicesByType: byType)
        }
    }

    public func admitTrial(releaseId: String, clientId: String, max: Int, cutoffMillis: Int64, atMillis: Int64) async throws(ServerError) -> Bool {
        try await transaction("admitting \(clientId) to the trial of \(releaseId)") { connection, logger in
            // Admissions to one release queue here, so that two replicas never both take the last place.
            try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\("trial:" + releaseId))::bigint)", logger: logger)
            let existing = try await connection.query(
                "SELECT 1 FROM trials WHERE release_id = \(releaseId) AND client_id = \(clientId)", logger: logger
            ).collect()
            if !existing.isEmpty { return true }
            var (admitted, confirmed, failed, timedOut): (Int64, Int64, Int64, Int64) = (0, 0, 0, 0)
            for try await (a, c, f) in try await connection.query(
                "SELECT admitted, confirmed, failed FROM trial_totals WHERE release_id = \(releaseId)", logger: logger
            ).decode((Int64, Int64, Int64).self) { (admitted, confirmed, failed) = (a, c, f) }
            for try await (n) in try await connection.query(
                "SELECT COUNT(*) FROM trials WHERE release_id = \(releaseId) AND outcome IS NULL AND admitted_ms < \(cutoffMillis)",
                logger: logger
            ).decode(Int64.self) { timedOut = n }
            let inTrial = TrialSchema.inTrial(admitted: admitted, confirmed: confirmed, failed: failed, timedOut: timedOut)
            guard inTrial < Int64(max) + confirmed else { return false }
            try await connection.query(
                "INSERT INTO trials (release_id, client_id, admitted_ms) VALUES (\(releaseId), \(clientId), \(atMillis))", logger: logger)
            try await connection.query(
                """
                INSERT INTO trial_totals (release_id, admitted) VALUES (\(releaseId), 1)
                ON CONFLICT (release_id) DO UPDATE SET admitted = trial_totals.admitted + 1
                """, logger: logger)
            return true
        }
    }

    public func reported(clientId: String, releaseId: String, types: [String]) async throws(ServerError) -> Bool {
        try await query("reading the reports of \(clientId)") { connection, logger in
            let rows = try await connection.query(
                "SELECT 1 FROM events WHERE release_id = \(releaseId) AND type = ANY(\(types)) AND client_id = \(clientId) LIMIT 1",
                logger: logger
            ).collect()
            return !rows.isEmpty
        }
    }

    public func ddiDevice(controllerId: String) async throws(ServerError) -> DDIDeviceRecord? {
        try await query("reading DDI device \(controllerId)") { connection, logger in
            for try await row in try await connection.query(
                "SELECT * FROM ddi_devices WHERE controller_id = \(controllerId)", logger: logger)
            {
                let r = row.makeRandomAccess()
                return DDIDeviceRecord(
                    controllerId: try r["controller_id"].decode(String.self), version: try r["version"].decode(String?.self),
                    actionReleaseId: try r["action_release"].decode(String?.self),
                    actionProceeding: try r["action_proceeding"].decode(Bool.self), configMillis: try r["config_ms"].decode(Int64?.self),
                    updatedMillis: try r["updated_ms"].decode(Int64.self))
            }
            return nil
        }
    }

    public func saveDDIDevice(_ device: DDIDeviceRecord) async throws(ServerError) {
        _ = try await query("saving DDI device \(device.controllerId)") { connection, logger in
            try await connection.query(
                """
                INSERT INTO ddi_devices (controller_id, version, action_release, action_proceeding, config_ms, updated_ms)
                VALUES (\(device.controllerId), \(device.version), \(device.actionReleaseId), \(device.actionProceeding),
                  \(device.configMillis), \(device.updatedMillis))
                ON CONFLICT (controller_id) DO UPDATE SET version = EXCLUDED.version, action_release = EXCLUDED.action_release,
                  action_proceeding = EXCLUDED.action_proceeding, config_ms = EXCLUDED.config_ms, updated_ms = EXCLUDED.updated_ms
                """, logger: logger)
        }
    }

    public func trialCounts(releaseId: String, cutoffMillis: Int64) async throws(ServerError) -> TrialCounts {
        try await query("counting the trial of \(releaseId)") { connection, logger in
            let rows = try await connection.query(
                """
                SELECT
                  COUNT(*) FILTER (WHERE outcome IS NULL AND admitted_ms >= \(cutoffMillis)),
                  COUNT(*) FILTER (WHERE outcome = 'marked-good'),
                  COUNT(*) FILTER (WHERE outcome IN ('fell-back', 'failed')),
                  COUNT(*) FILTER (WHERE outcome IS NULL AND admitted_ms < \(cutoffMillis))
                FROM trials WHERE release_id = \(releaseId)
                """, logger: logger)
            for try await (inTrial, confirmed, failed, timedOut) in rows.decode((Int64, Int64, Int64, Int64).self) {
                return TrialCounts(inTrial: Int(inTrial), confirmed: Int(confirmed), failed: Int(failed), timedOut: Int(timedOut))
            }
            return TrialCounts()
        }
    }

    public func close() async {}

    // MARK: - Device identity

    public func insertEnrollToken(_ token: EnrollTokenRecord) async throws(ServerError) {
        _ = try await query("storing an enrolment token") { connection, logger in
            try await connection.query(
                """
                INSERT INTO enroll_tokens (sha256, product, created_ms, expires_ms)
                VALUES (\(token.sha256), \(token.product), \(token.createdMillis), \(token.expiresMillis))
                """, logger: logger)
        }
    }

    public func enrollToken(sha256: String) async throws(ServerError) -> EnrollTokenRecord? {
        try await query("reading an enrolment token") { connection, logger in
            let rows = try await connection.query(
                "SELECT sha256, product, created_ms, expires_ms FROM enroll_tokens WHERE sha256 = \(sha256)", logger: logger)
            for try await (hash, product, created, expires) in rows.decode((String, String, Int64, Int64?).self) {
                return EnrollTokenRecord(sha256: hash, product: product, createdMillis: created, expiresMillis: expires)
            }
            return nil
        }
    }

    public func enrollDevice(_ device: DeviceKeyRecord) async throws(ServerError) -> DeviceKeyRecord {
        try await transaction("enrolling device \(device.clientId)") { connection, logger in
            try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.deviceKeysLockKey))", logger: logger)
            if let existing = try await Self.fetchDeviceKeys(connection, logger, "SELECT * FROM device_keys WHERE client_id = \(device.clientId)").first {
                try DeviceKeyRules.reEnrolment(of: existing, as: device)
                return existing
            }
            let rows = try await Self.fetchDeviceKeys(
                connection, logger,
                """
                INSERT INTO device_keys (client_id, public_key, product, enrolled_ms, revoked_ms, change_seq)
                SELECT \(device.clientId), \(device.publicKey), \(device.product), \(device.enrolledMillis), NULL,
                  COALESCE(MAX(change_seq), 0) + 1 FROM device_keys
                RETURNING *
                """)
            guard let record = rows.first else { throw ServerError.storage("enrolling device \(device.clientId) returned nothing") }
            return record
        }
    }

    public func deviceKey(clientId: String) async throws(ServerError) -> DeviceKeyRecord? {
        try await query("reading device \(clientId)") { connection, logger in
            try await Self.fetchDeviceKeys(connection, logger, "SELECT * FROM device_keys WHERE client_id = \(clientId)").first
        }
    }

    public func deviceKeys(changedAfter after: Int64, limit: Int) async throws(ServerError) -> [DeviceKeyRecord] {
        try await query("reading device keys") { connection, logger in
            try await Self.fetchDeviceKeys(
                connection, logger, "SELECT * FROM device_keys WHERE change_seq > \(after) ORDER BY change_seq LIMIT \(limit)")
        }
    }

    public func revokeDevice(clientId: String, atMillis: Int64) async throws(ServerError) -> DeviceKeyRecord? {
        try await transaction("revoking device \(clientId)") { connection, logger in
            try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.deviceKeysLockKey))", logger: logger)
            return try await Self.fetchDeviceKeys(
                connection, logger,
                """
                UPDATE device_keys SET revoked_ms = COALESCE(revoked_ms, \(atMillis)),
                  change_seq = (SELECT MAX(change_seq) + 1 FROM device_keys)
                WHERE client_id = \(clientId) RETURNING *
                """
            ).first
        }
    }

    public func sharedSecret(named name: String) async throws(ServerError) -> String {
        let candidate = RandomToken.hex256()
        return try await query("reading the \(name) secret") { connection, logger in
            try await connection.query(
                "INSERT INTO server_secrets (name, value) VALUES (\(name), \(candidate)) ON CONFLICT (name) DO NOTHING", logger: logger)
            for try await (value) in try await connection.query(
                "SELECT value FROM server_secrets WHERE name = \(name)", logger: logger
            ).decode(String.self) {
                return value
            }
            return candidate
        }
    }

    private static func fetchDeviceKeys(
        _ connection: PostgresConnection, _ logger: Logger, _ sql: PostgresQuery
    ) async throws -> [DeviceKeyRecord] {
        var keys: [DeviceKeyRecord] = []
        for try await row in try await connection.query(sql, logger: logger) {
            let r = row.makeRandomAccess()
            keys.append(
                DeviceKeyRecord(
                    clientId: try r["client_id"].decode(String.self), publicKey: try r["public_key"].decode(String.self),
                    product: try r["product"].decode(String.self), enrolledMillis: try r["enrolled_ms"].decode(Int64.self),
                    revokedMillis: try r["revoked_ms"].decode(Int64?.self), changeSeq: try r["change_seq"].decode(Int64.self)))
        }
        return keys
    }

    // MARK: - Helpers

    private func count(_ what: String, _ sql: PostgresQuery) async throws(ServerError) -> Int {
        try await query(what) { connection, logger in
            var n: Int64 = 0
            for try await (value) in try await connection.query(sql, logger: logger).decode(Int64.self) { n = value }
            return Int(n)
        }
    }

    func query<T: Sendable>(
        _ what: String, _ body: (PostgresConnection, Logger) async throws -> T
    ) async throws(ServerError) -> T {
        do {
            return try await client.withConnection { connection in try await body(connection, self.logger) }
        } catch let error as ServerError {
            throw error
        } catch {
            throw ServerError.storage("\(what) failed", cause: error)
        }
    }

    func transaction<T: Sendable>(
        _ what: String, _ body: (PostgresConnection, Logger) async throws -> T
    ) async throws(ServerError) -> T {
        do {
            return try await client.withTransaction(logger: logger) { connection in try await body(connection, self.logger) }
        } catch let error as PostgresTransactionError {
            if let inner = error.closureError as? ServerError { throw inner }
            throw ServerError.storage("\(what) failed", cause: error.closureError ?? error.commitError ?? error)
        } catch let error as ServerError {
            throw error
        } catch {
            throw ServerError.storage("\(what) failed", cause: error)
        }
    }

    /// Serialises writers of one experiment's arms until the transaction ends.
    private static func lockExperiment(_ name: String, _ connection: PostgresConnection, _ logger: Logger) async throws {
        _ = try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\("experiment:" + name))::bigint)", logger: logger)
    }

    private static func fetchReleases(
        _ connection: PostgresConnection, _ logger: Logger, _ sql: PostgresQuery
    ) async throws -> [ReleaseRecord] {
        var releases: [ReleaseRecord] = []
        for try await row in try await connection.query(sql, logger: logger) {
            releases.append(try decodeRelease(row.makeRandomAccess()))
        }
        return releases
    }

    private static func decodeRelease(_ r: PostgresRandomAccessRow) throws -> ReleaseRecord {
        let id = try r["id"].decode(String.self)
        guard let compression = PayloadCompression(rawValue: try r["compression"].decode(String.self)) else {
            throw ServerError.storage("release \(id) has an unknown compression")
        }
        let manifest = ReleaseManifest(
            compatible: try r["compatible"].decode(String.self), version: try r["version"].decode(String.self),
            securityVersion: UInt64(try r["security_version"].decode(Int64.self)),
            size: UInt64(try r["size"].decode(Int64.self)), crc32: try r["crc32"].decode(String.self),
            sha256: try r["sha256"].decode(String.self), compression: compression,
            payloadSize: UInt64(try r["payload_size"].decode(Int64.self)))
        var experiment: ExperimentSlot?
        if let name = try r["experiment"].decode(String?.self) {
            experiment = ExperimentSlot(
                name: name, startBucket: Int(try r["arm_start"].decode(Int64.self)),
                endBucket: Int(try r["arm_end"].decode(Int64.self)))
        }
        var release = ReleaseRecord(
            id: id, channel: try r["channel"].decode(String.self), manifest: manifest,
            signature: try r["signature"].decode(String.self), externalURL: try r["external_url"].decode(String?.self),
            payloadSHA256: try r["payload_sha256"].decode(String?.self),
            rolloutBasisPoints: Int(try r["rollout_bp"].decode(Int64.self)), paused: try r["paused"].decode(Bool.self),
            pauseReason: try r["pause_reason"].decode(String?.self), autoPause: try r["auto_pause"].decode(Bool.self),
            experiment: experiment, publishedSeq: try r["published_seq"].decode(Int64?.self),
            createdAtMillis: try r["created_ms"].decode(Int64.self),
            publishedAtMillis: try r["published_ms"].decode(Int64?.self))
        release.maxInTrial = Int(try r["max_in_trial"].decode(Int64.self))
        release.trialTimeoutSeconds = Int(try r["trial_timeout_s"].decode(Int64.self))
        release.payloadSHA1 = try r["payload_sha1"].decode(String?.self)
        release.index = try ReleaseRecord.decodeIndexReference(try r["index_ref"].decode(String?.self))
        return release
    }
}

extension PostgresStore {
    public func releaseIndex(id: String) async throws(ServerError) -> [UInt8]? {
        try await query("reading the chunk index of \(id)") { connection, logger in
            let rows = try await connection.query("SELECT data FROM release_indexes WHERE release_id = \(id)", logger: logger)
            for try await data in rows.decode(ByteBuffer.self) { return Array(data.readableBytesView) }
            return nil
        }
    }
}
