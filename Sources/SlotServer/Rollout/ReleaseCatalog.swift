import Synchronization
import SlotWire

/// The published releases, held in memory so that a check never waits for the
/// database.
///
/// Every instance reloads it from the store periodically (``CatalogRefresher``)
/// and right after its own writes, so a PATCH made on one replica reaches the
/// others within one refresh interval.
public final class ReleaseCatalog: Sendable {
    struct Snapshot: Sendable {
        /// Newest first, per track.
        var tracks: [TrackKey: [ReleaseRecord]] = [:]
        var all: [ReleaseRecord] = []
        var byId: [String: ReleaseRecord] = [:]
        var generation: UInt64 = 0
        /// The store's catalog version when this was loaded (read before the releases,
        /// so the releases are never older than the version claims).
        var version: UInt64 = 0
    }

    private let store: any MetadataStore
    private let state = Mutex(Snapshot())
    private let generations = Atomic<UInt64>(0)
    /// The generation of the snapshot in place: a ``TrackReader`` checks it
    /// without taking the lock.
    private let current = Atomic<UInt64>(0)
    /// Renewed at every reload: the statement moves with the catalog it speaks for.
    let freshness: FreshnessSigner?

    init(store: any MetadataStore, freshness: FreshnessSigner? = nil) {
        self.store = store
        self.freshness = freshness
    }

    /// Reloads from the store. A slow reload never overwrites a newer one.
    func reload() async throws(ServerError) {
        let generation = generations.add(1, ordering: .relaxed).newValue
        let version = try await store.catalogVersion()
        let releases = try await store.publishedReleases()
        var tracks: [TrackKey: [ReleaseRecord]] = [:]
        for release in releases.reversed() {
            tracks[TrackKey(channel: release.channel, compatible: release.manifest.compatible), default: []].append(release)
        }
        state.withLock { snapshot in
            guard generation > snapshot.generation else { return }
            snapshot = Snapshot(
                tracks: tracks, all: releases, byId: Dictionary(releases.map { ($0.id, $0) }, uniquingKeysWith: { $1 }),
                generation: generation, version: version)
            current.store(generation, ordering: .releasing)
        }
        freshness?.refresh(version: self.version)
    }

    /// The catalog version of what is loaded: what the freshness statement says.
    var version: UInt64 { state.withLock { $0.version } }

    /// The answer to a check, from memory.
    func choose(for request: CheckRequest, accept: (ReleaseRecord) -> Bool = { _ in true }) -> ReleaseRecord? {
        guard let releases = track(channel: request.channel, compatible: request.compatible).releases else { return nil }
        return RolloutPolicy.choose(among: releases, for: request, accept: accept)
    }

    /// The published releases of a channel and compatible, newest first, and
    /// the generation of the snapshot they come from.
    func track(channel: String, compatible: String) -> (generation: UInt64, releases: [ReleaseRecord]?) {
        state.withLock { ($0.generation, $0.tracks[TrackKey(channel: channel, compatible: compatible)]) }
    }

    /// One connection's reader: keeps the last track it read for as long as
    /// the catalog has not reloaded, so that a check from the same track costs
    /// an atomic load instead of the catalog's lock and a lookup.
    struct TrackReader {
        let catalog: ReleaseCatalog
        private var last: (generation: UInt64, channel: String, compatible: String, releases: [ReleaseRecord]?)?

        init(_ catalog: ReleaseCatalog) {
            self.catalog = catalog
        }

        mutating func releases(channel: String, compatible: String) -> [ReleaseRecord]? {
            if let last, last.generation == catalog.current.load(ordering: .acquiring), last.channel == channel, last.compatible == compatible {
                return last.releases
            }
            let (generation, releases) = catalog.track(channel: channel, compatible: compatible)
            last = (generation, channel, compatible, releases)
            return releases
        }
    }

    /// A published release by id, as last loaded.
    func release(id: String) -> ReleaseRecord? {
        state.withLock { $0.byId[id] }
    }

    /// The first load is done: the server loads the catalog once the store is
    /// migrated, and the refresher waits for that rather than querying tables
    /// that may not exist yet.
    var isLoaded: Bool { state.withLock { $0.generation > 0 } }

    /// Published releases in deploy order, as last loaded.
    var published: [ReleaseRecord] { state.withLock { $0.all } }
}
