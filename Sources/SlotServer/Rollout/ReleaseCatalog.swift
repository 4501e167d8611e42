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
        }
        freshness?.refresh(version: self.version)
    }

    /// The catalog version of what is loaded: what the freshness statement says.
    var version: UInt64 { state.withLock { $0.version } }

    /// The answer to a check, from memory.
    func choose(for request: CheckRequest, accept: (ReleaseRecord) -> Bool = { _ in true }) -> ReleaseRecord? {
        let releases = state.withLock { $0.tracks[TrackKey(channel: request.channel, compatible: request.compatible)] }
        guard let releases else { return nil }
        return RolloutPolicy.choose(among: releases, for: request, accept: accept)
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
