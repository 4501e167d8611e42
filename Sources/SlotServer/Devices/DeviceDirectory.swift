import Crypto
import SlotCodec
import SlotWire
import Synchronization

/// The enrolled devices this instance knows: public key, revoked or not, and
/// the time of the last request it accepted from each (requests must come
/// with growing times). Filled from the store at start, then by the catalog
/// refresher with only what changed (`change_seq`), so a revocation made on
/// one replica reaches the others within a refresh interval. A device
/// enrolled on another replica a moment ago is looked up on its first
/// request.
final class DeviceDirectory: Sendable {
    struct Entry: Sendable {
        let publicKey: Curve25519.Signing.PublicKey
        let revoked: Bool
        /// Milliseconds: the time of the newest request accepted from this device.
        var lastTimeMillis: Int64
        /// The ticket last used, so that its key is derived and its expiry parsed once a session.
        var session: Session?

        /// Takes `timeMillis` as the newest request if it is newer than the last; false for a replay.
        mutating func advance(to timeMillis: Int64) -> Bool {
            guard timeMillis > lastTimeMillis else { return false }
            lastTimeMillis = timeMillis
            return true
        }
    }

    /// A session ticket that verified, with what it stands for.
    struct Session: Sendable {
        let ticket: String
        /// Keyed with the session key once: keying costs as much as a MAC.
        let mac: SessionMAC
        let expiryMillis: Int64
    }

    /// Mutex is not copyable: each shard lives in an object of its own.
    private final class Shard: Sendable {
        let entries = Mutex<[String: Entry]>([:])
    }

    /// Sharded so that the event loops rarely wait for each other: every
    /// authenticated request takes its device's shard once.
    private let shards = (0..<16).map { _ in Shard() }
    private let loadedSeq = Atomic<Int64>(0)
    /// Derives session keys; set once the store is migrated.
    private let secret = Mutex<SymmetricKey?>(nil)
    let store: any MetadataStore

    init(store: any MetadataStore) {
        self.store = store
    }

    var sessionSecret: SymmetricKey? { secret.withLock { $0 } }

    /// Loads the shared session secret and every enrolled device.
    func start() async throws(ServerError) {
        let hex = try await store.sharedSecret(named: "device-sessions")
        guard let bytes = Hex.bytes(hex), bytes.count == 32 else {
            throw ServerError.storage("the stored device-sessions secret is not 32 bytes of hex")
        }
        secret.withLock { $0 = SymmetricKey(data: bytes) }
        try await refresh()
    }

    /// Applies enrolments and revocations made since the last call.
    func refresh() async throws(ServerError) {
        while true {
            let changes = try await store.deviceKeys(changedAfter: loadedSeq.load(ordering: .acquiring), limit: 10_000)
            guard let last = changes.last else { return }
            for record in changes { apply(record) }
            loadedSeq.store(last.changeSeq, ordering: .releasing)
            if changes.count < 10_000 { return }
        }
    }

    func entry(_ clientId: String) -> Entry? { withEntry(clientId) { $0 } }

    /// `body` with the device's entry (nil: not known here) under its shard's
    /// lock, looked up once and changed in place.
    func withEntry<Result: Sendable, Failure: Error>(
        _ clientId: String, _ body: (inout Entry?) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        // The shard from the id's last byte: client ids end in random hex.
        let shard = shards[Int(clientId.utf8.last ?? 0) % shards.count]
        return try shard.entries.withLock { entries throws(Failure) in try body(&entries[clientId]) }
    }

    /// The device from the store, for one that enrolled on another replica
    /// since the last refresh.
    func lookUp(_ clientId: String) async throws(ServerError) -> Entry? {
        guard let record = try await store.deviceKey(clientId: clientId) else { return nil }
        apply(record)
        return entry(clientId)
    }

    func apply(_ record: DeviceKeyRecord) {
        guard let key = try? ReleaseSignature.publicKey(fromBase64: record.publicKey) else { return }
        withEntry(record.clientId) { entry in
            entry = Entry(publicKey: key, revoked: record.revokedMillis != nil, lastTimeMillis: entry?.lastTimeMillis ?? 0, session: nil)
        }
    }

    /// Records `timeMillis` as the device's newest request if it is newer
    /// than the last one; false for a time already used (a replay) or a device not known here.
    func advance(_ clientId: String, to timeMillis: Int64) -> Bool {
        withEntry(clientId) { entry in entry?.advance(to: timeMillis) ?? false }
    }
}
