import SlotWire

/// Where releases, devices and events live. Two implementations, one contract:
/// ``SQLiteStore`` (embedded, the default) and ``PostgresStore`` (several
/// stateless server instances on one database). The same test suite runs
/// against both.
///
/// Every method that checks and then writes (experiment arms, publish order,
/// auto-pause) does so inside one transaction, so replicas racing each other
/// cannot break the invariants.
public protocol MetadataStore: Sendable {
    /// Creates or upgrades the schema. Safe to run from several instances at once.
    func migrate() async throws(ServerError)

    /// Stores a new, unpublished release (its publish fields are ignored). Refuses
    /// a duplicate id and an experiment arm overlapping another arm of its experiment.
    func insertRelease(_ release: ReleaseRecord) async throws(ServerError)

    /// Stores a new release as ``insertRelease(_:)`` does, with the bytes of
    /// its chunk index in the same transaction.
    func insertRelease(_ release: ReleaseRecord, indexData: [UInt8]?) async throws(ServerError)

    /// The chunk index stored with a release, nil when it has none here.
    func releaseIndex(id: String) async throws(ServerError) -> [UInt8]?

    /// Marks a release published (payload uploaded and verified, or external),
    /// giving it the next deploy order. Refuses a release already published.
    func publishRelease(id: String, payloadSHA256: String?, payloadSHA1: String?, atMillis: Int64) async throws(ServerError) -> ReleaseRecord

    /// Grows with every change devices can see: publish, rollout change, pause
    /// (the number the freshness statement carries).
    func catalogVersion() async throws(ServerError) -> UInt64

    func release(id: String) async throws(ServerError) -> ReleaseRecord?

    /// All releases, oldest first (published ones in deploy order, then pending ones).
    func allReleases() async throws(ServerError) -> [ReleaseRecord]

    /// Only published releases, in deploy order: what the check path needs.
    func publishedReleases() async throws(ServerError) -> [ReleaseRecord]

    /// Applies a PATCH atomically, re-checking experiment arm overlap.
    func updateRollout(id: String, change: RolloutChange) async throws(ServerError) -> ReleaseRecord

    /// Pauses a release for `reason` if it is not paused and auto-pause is on.
    /// Returns whether this call paused it.
    func autoPause(id: String, reason: String) async throws(ServerError) -> Bool

    /// Upserts the coalesced last checks of many devices in one transaction.
    /// Fields follow the newest `lastCheckMillis`; `checks` add up.
    func upsertDevices(_ devices: [DeviceRecord]) async throws(ServerError)

    /// A page of devices ordered by client id, starting after `after`.
    func devices(after: String?, limit: Int) async throws(ServerError) -> [DeviceRecord]

    func deviceCount() async throws(ServerError) -> Int

    /// Devices whose last check said they run `version` on that channel and compatible.
    func countDevices(runningVersion version: String, channel: String, compatible: String) async throws(ServerError) -> Int

    /// Devices whose last check was answered with `releaseId`.
    func countDevices(offered releaseId: String) async throws(ServerError) -> Int

    func insertEvents(_ events: [DeviceEvent], receivedAtMillis: Int64) async throws(ServerError)

    func eventTally(releaseId: String) async throws(ServerError) -> EventTally

    /// Admits `clientId` to the trial of `releaseId`: yes if it is in it
    /// already, or if fewer than `max` plus the confirmed devices are in trial
    /// (admitted at or after `cutoffMillis`, no outcome yet): each `marked-good`
    /// frees its place and opens one more, so a healthy release widens
    /// (doubling per round of reports) and a failing one does not. Atomic
    /// across replicas, so the gate holds however many instances admit at
    /// once. Outcomes are recorded by ``insertEvents(_:receivedAtMillis:)``.
    func admitTrial(releaseId: String, clientId: String, max: Int, cutoffMillis: Int64, atMillis: Int64) async throws(ServerError) -> Bool

    func trialCounts(releaseId: String, cutoffMillis: Int64) async throws(ServerError) -> TrialCounts

    /// Whether `clientId` reported an event of one of `types` about `releaseId`.
    func reported(clientId: String, releaseId: String, types: [String]) async throws(ServerError) -> Bool

    func ddiDevice(controllerId: String) async throws(ServerError) -> DDIDeviceRecord?

    /// Inserts or replaces the device's row.
    func saveDDIDevice(_ device: DDIDeviceRecord) async throws(ServerError)

    // MARK: Device identity

    func insertEnrollToken(_ token: EnrollTokenRecord) async throws(ServerError)

    func enrollToken(sha256: String) async throws(ServerError) -> EnrollTokenRecord?

    /// Enrols a device, or returns its record unchanged when this key is
    /// already enrolled (a device retrying). Refuses a revoked device (401).
    func enrollDevice(_ device: DeviceKeyRecord) async throws(ServerError) -> DeviceKeyRecord

    func deviceKey(clientId: String) async throws(ServerError) -> DeviceKeyRecord?

    /// Enrolments and revocations with a `changeSeq` above `after`, in order.
    func deviceKeys(changedAfter after: Int64, limit: Int) async throws(ServerError) -> [DeviceKeyRecord]

    /// Marks a device revoked. Returns nil when no such device is enrolled.
    func revokeDevice(clientId: String, atMillis: Int64) async throws(ServerError) -> DeviceKeyRecord?

    /// A named secret shared by every replica on this store (made on first
    /// use, 32 random bytes, hex).
    func sharedSecret(named name: String) async throws(ServerError) -> String

    /// Releases resources; the store is unusable afterwards.
    func close() async
}

extension MetadataStore {
    /// Publishes with no SHA-1 (a release whose payload lives elsewhere keeps the one it was deployed with).
    public func publishRelease(id: String, payloadSHA256: String?, atMillis: Int64) async throws(ServerError) -> ReleaseRecord {
        try await publishRelease(id: id, payloadSHA256: payloadSHA256, payloadSHA1: nil, atMillis: atMillis)
    }
}
