import Synchronization
import NIOCore
import SlotWire

/// Encoded `200` answers by release id and payload base URL. A release's answer
/// never changes (id, manifest, signature and URL are immutable once created),
/// so entries never go stale; the cache is only bounded against many Host values.
final class AnswerCache: Sendable {
    private struct Key: Hashable {
        var releaseId: String
        var base: String
    }

    private let entries = Mutex<[Key: ByteBuffer]>([:])
    private let capacity: Int

    init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    func answer(for release: ReleaseRecord, base: String) throws(ServerError) -> ByteBuffer {
        let key = Key(releaseId: release.id, base: base)
        if let cached = entries.withLock({ $0[key] }) { return cached }
        let url = release.externalURL ?? base + PayloadURL.path(releaseId: release.id)
        let body: ByteBuffer
        do {
            body = ByteBuffer(bytes: try WireJSON.encoder().encode(Release(id: release.id, manifest: release.manifest, url: url, signature: release.signature, index: Self.index(of: release, base: base))))
        } catch {
            throw ServerError(.internal, "encoding the answer failed", cause: error)
        }
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = body
        }
        return body
    }

    /// The index reference as devices see it: an index this server keeps gets its URL here.
    static func index(of release: ReleaseRecord, base: String) -> ChunkIndexReference? {
        guard var index = release.index else { return nil }
        if index.url.isEmpty { index.url = base + IndexRoute.path(releaseId: release.id) }
        return index
    }
}
