import Hummingbird
import NIOCore
import SlotWire
import Synchronization

/// `GET`/`HEAD /v1/indexes/{id}`: the chunk index stored with a published
/// release. Like payloads it never changes, so it is cacheable forever; it is
/// signed (with the manifest), so it needs no authentication.
struct IndexRoute {
    let state: ServerState
    let cache: IndexCache

    static func path(releaseId: String) -> String { "/v1/indexes/" + releaseId }

    func register(on router: Router<SlotRequestContext>) {
        router.get("/v1/indexes/:id") { request, context in try await handle(context, head: false) }
        router.head("/v1/indexes/:id") { request, context in try await handle(context, head: true) }
    }

    func handle(_ context: SlotRequestContext, head: Bool) async throws(ServerError) -> Response {
        let id = try Identifier(context.parameters.get("id") ?? "", what: "release id")
        var release = state.catalog.release(id: id.value)
        if release == nil { release = try await state.store.release(id: id.value) }
        guard let release, release.isPublished, let index = release.index, index.url.isEmpty else {
            throw ServerError.notFound("no published release \(id) with a chunk index on this server")
        }
        let bytes: ByteBuffer
        if let cached = cache.get(id.value) {
            bytes = cached
        } else {
            guard let data = try await state.store.releaseIndex(id: id.value) else {
                throw ServerError.notFound("the chunk index of release \(id) is missing from the store")
            }
            bytes = ByteBuffer(bytes: data)
            cache.put(id.value, bytes)
        }
        let headers: HTTPFields = [
            .contentType: "application/octet-stream",
            .contentLength: String(bytes.readableBytes),
            .eTag: "\"\(index.sha256)\"",
            .cacheControl: "public, max-age=31536000, immutable",
        ]
        return Response(status: .ok, headers: headers, body: head ? ResponseBody() : ResponseBody(byteBuffer: bytes))
    }
}

/// The last few indexes served: a fleet asks for the same one over and over.
final class IndexCache: Sendable {
    private let entries = Mutex<[(String, ByteBuffer)]>([])
    private let capacity = 4

    func get(_ id: String) -> ByteBuffer? {
        entries.withLock { entries in entries.first { $0.0 == id }?.1 }
    }

    func put(_ id: String, _ bytes: ByteBuffer) {
        entries.withLock { entries in
            entries.removeAll { $0.0 == id }
            entries.insert((id, bytes), at: 0)
            if entries.count > capacity { entries.removeLast() }
        }
    }
}
