import Foundation
import Hummingbird
import SlotWire

/// `GET`/`HEAD /v1/payloads/{id}`: the payload bytes, with single `Range`
/// requests (206 + Content-Range, 416 when unsatisfiable), a strong ETag (the
/// payload's SHA-256), `If-None-Match` and `If-Range`. Payload files never
/// change once published, so they are cacheable forever.
struct PayloadRoute {
    let state: ServerState

    func register(on router: Router<SlotRequestContext>) {
        router.get("/v1/payloads/:id") { request, context in try await handle(request, context: context, head: false) }
        router.head("/v1/payloads/:id") { request, context in try await handle(request, context: context, head: true) }
    }

    func handle(_ request: Request, context: SlotRequestContext, head: Bool) async throws -> Response {
        try await serve(try Identifier(context.parameters.get("id") ?? "", what: "release id"), request, context: context, head: head)
    }

    /// The payload of release `id` (also what the DDI face serves as its artifact).
    func serve(_ id: Identifier, _ request: Request, context: SlotRequestContext, head: Bool) async throws(ServerError) -> Response {
        let release = try await publishedRelease(id)
        let size = release.manifest.payloadSize
        let etag = "\"\(release.payloadSHA256 ?? release.manifest.sha256)\""

        var headers: HTTPFields = [
            .acceptRanges: "bytes",
            .eTag: etag,
            .contentType: release.manifest.compression == .gzip ? "application/gzip" : "application/octet-stream",
            .cacheControl: "public, max-age=31536000, immutable",
        ]
        if let ifNoneMatch = request.headers[.ifNoneMatch],
            ifNoneMatch == "*" || ifNoneMatch.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == etag })
        {
            return Response(status: .notModified, headers: headers)
        }
        var range = ByteRange.parse(request.headers[.range], size: size)
        if let ifRange = request.headers[.ifRange], ifRange != etag { range = .full }

        switch range {
        case .unsatisfiable:
            throw ServerError(
                .rangeNotSatisfiable, "the payload has \(size) bytes; the requested range is outside it",
                headers: [.contentRange: "bytes */\(size)", .acceptRanges: "bytes"])
        case .full:
            headers[.contentLength] = String(size)
            if head || size == 0 { return Response(status: .ok, headers: headers) }
            return Response(status: .ok, headers: headers, body: try await state.payloads.read(id, range: 0...Int(size - 1), context: context))
        case .partial(let bytes):
            headers[.contentRange] = "bytes \(bytes.lowerBound)-\(bytes.upperBound)/\(size)"
            headers[.contentLength] = String(bytes.count)
            if head { return Response(status: .partialContent, headers: headers) }
            return Response(
                status: .partialContent, headers: headers,
                body: try await state.payloads.read(id, range: Int(bytes.lowerBound)...Int(bytes.upperBound), context: context))
        }
    }

    /// From the catalog when possible; a release just published on another
    /// replica is found in the store before the next catalog refresh.
    private func publishedRelease(_ id: Identifier) async throws(ServerError) -> ReleaseRecord {
        var release = state.catalog.release(id: id.value)
        if release == nil { release = try await state.store.release(id: id.value) }
        guard let release, release.isPublished else { throw ServerError.notFound("no published release \(id)") }
        if release.externalURL != nil {
            throw ServerError.notFound("release \(id) is served from \(release.externalURL ?? "elsewhere")")
        }
        return release
    }
}
