import SlotCodec
import Hummingbird
import NIOCore
import SlotWire

/// `PUT /v1/releases/{id}/payload` (admin): the payload, streamed into the
/// payload store and verified against the signed manifest as it arrives. Only a
/// complete, matching upload is moved into place and published; anything else
/// leaves no trace but a 4xx.
struct UploadRoute {
    let state: ServerState

    static func path(releaseId: String) -> String { "/v1/releases/\(releaseId)/payload" }

    func register(on router: Router<SlotRequestContext>) {
        router.put("/v1/releases/:id/payload") { request, context in try await handle(request, context: context) }
    }

    func handle(_ request: Request, context: SlotRequestContext) async throws(ServerError) -> Response {
        try state.auth.require(request)
        let id = try Identifier(context.parameters.get("id") ?? "", what: "release id")
        guard let release = try await state.store.release(id: id.value) else { throw ServerError.notFound("no release \(id)") }
        if release.isPublished { throw ServerError.conflict("release \(id) is already published") }
        let manifest = release.manifest
        if let declared = request.headers[.contentLength] {
            guard let length = UInt64(digits: declared) else { throw ServerError.badRequest("invalid Content-Length") }
            if length > state.configuration.limits.payloadSize {
                throw ServerError(.payloadTooLarge, "upload of \(length) bytes is over the limit of \(state.configuration.limits.payloadSize)")
            }
            guard length == manifest.payloadSize else {
                throw ServerError.badRequest("Content-Length \(length) differs from the manifest's payloadSize \(manifest.payloadSize)")
            }
        }

        let claimed = state.uploadsInProgress.withLock { $0.insert(id.value).inserted }
        guard claimed else { throw ServerError.conflict("an upload of release \(id) is already in progress") }
        defer { _ = state.uploadsInProgress.withLock { $0.remove(id.value) } }

        let upload = try await state.payloads.beginUpload(id)
        let digests: (sha256: String, sha1: String)
        do throws(ServerError) {
            let verifier = try UploadVerifier(manifest: release.manifest)
            try await receive(request.body, into: upload, verifier: verifier)
            digests = try verifier.finish()
            try await upload.commit(size: verifier.payloadBytes)
        } catch {
            await upload.discard()
            throw error
        }
        let record = try await state.store.publishRelease(
            id: id.value, payloadSHA256: digests.sha256, payloadSHA1: digests.sha1, atMillis: Timestamp.nowMillis())
        state.logger.info("release \(id) published (\(manifest.payloadSize) payload bytes verified)")
        await state.releasesChanged()
        return try JSONBody.response(ReleaseInfo(record))
    }

    /// Streams the body into the upload, verifying every byte before it is kept.
    private func receive(_ body: RequestBody, into upload: any PayloadUpload, verifier: UploadVerifier) async throws(ServerError) {
        do {
            for try await buffer in body {
                try buffer.withUnsafeReadableBytes { (bytes) throws(ServerError) in try verifier.update(bytes) }
                try await upload.append(buffer)
            }
        } catch let error as ServerError {
            throw error
        } catch {
            throw ServerError.badRequest("the upload was cut off", cause: error)
        }
    }
}
