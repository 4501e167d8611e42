import Crypto
import SlotCodec
import Foundation
import Hummingbird
import SlotWire

/// `POST /v1/releases` (admin): registers a signed release. The signature must
/// verify against `--release-key`; the release is offered only after its
/// payload arrived (``UploadRoute``), or at once when it names an external URL.
struct DeployRoute {
    let state: ServerState

    func register(on router: Router<SlotRequestContext>) {
        router.post("/v1/releases") { request, _ in try await handle(request) }
    }

    func handle(_ request: Request) async throws(ServerError) -> Response {
        try state.auth.require(request)
        // A chunk index travels in the request, as base64.
        let limit = state.configuration.limits.adminBody + Int(ChunkIndexReference.maxSize / 3 * 4) + 1024
        let deploy = try await JSONBody.decode(DeployRequest.self, from: request, limit: limit)
        var record = try validate(deploy)
        let indexData = try validateIndex(deploy, &record)
        try await state.store.insertRelease(record, indexData: indexData)
        state.logger.info("release \(record.id) (\(record.manifest.version), channel \(record.channel)) created")

        if record.externalURL != nil {
            let published = try await state.store.publishRelease(id: record.id, payloadSHA256: nil, atMillis: Timestamp.nowMillis())
            await state.releasesChanged()
            return try JSONBody.response(DeployResponse(release: ReleaseInfo(published), uploadPath: nil), status: .created)
        }
        return try JSONBody.response(
            DeployResponse(release: ReleaseInfo(record), uploadPath: UploadRoute.path(releaseId: record.id)), status: .created)
    }

    private func validate(_ deploy: DeployRequest) throws(ServerError) -> ReleaseRecord {
        let channel = try Identifier(deploy.channel, what: "channel")
        let manifest = deploy.manifest
        do {
            try manifest.validate()
        } catch {
            throw ServerError.badRequest("invalid manifest: \(error.message)", cause: error)
        }
        let maxSize = UInt64(Int64.max)
        guard manifest.size <= maxSize, manifest.payloadSize <= maxSize, manifest.securityVersion <= maxSize else {
            throw ServerError.badRequest("manifest sizes and securityVersion must be below 2^63")
        }
        if manifest.compression == .gzip && manifest.payloadSize < 18 {
            throw ServerError.badRequest("a gzip payload is at least 18 bytes")
        }
        if deploy.url == nil && manifest.payloadSize > state.configuration.limits.payloadSize {
            throw ServerError(
                .payloadTooLarge,
                "payload of \(manifest.payloadSize) bytes is over this server's limit of \(state.configuration.limits.payloadSize)")
        }
        try verifySignature(deploy.signature, manifest)

        var rollout = RolloutBucket.count
        var experiment: ExperimentSlot?
        if let arm = deploy.experiment {
            if deploy.rolloutPercent != nil {
                throw ServerError.badRequest("an experiment arm is sized by its range; leave out rolloutPercent")
            }
            experiment = try Self.slot(name: arm.name, start: arm.start, end: arm.end)
        } else if let percent = deploy.rolloutPercent {
            rollout = try Percent.basisPoints(percent, field: "rolloutPercent")
        }
        var externalURL: String?
        if let url = deploy.url {
            externalURL = try Self.validateExternalURL(url)
        }
        let maxInTrial = deploy.maxInTrial ?? state.configuration.defaultMaxInTrial
        try Self.validate(maxInTrial: maxInTrial)
        let trialTimeout = deploy.trialTimeoutSeconds ?? state.configuration.defaultTrialTimeoutSeconds
        guard (60...30 * 86400).contains(trialTimeout) else {
            throw ServerError.badRequest("trialTimeoutSeconds must be 60 to 2592000 (30 days)")
        }
        var release = ReleaseRecord(
            id: Identifier.newReleaseID(version: manifest.version).value, channel: channel.value, manifest: manifest,
            signature: deploy.signature.trimmingCharacters(in: .whitespacesAndNewlines), externalURL: externalURL,
            payloadSHA256: nil, rolloutBasisPoints: rollout, experiment: experiment,
            createdAtMillis: Timestamp.nowMillis())
        release.maxInTrial = maxInTrial
        release.trialTimeoutSeconds = trialTimeout
        if let sha1 = deploy.payloadSHA1 {
            guard deploy.url != nil, Hex.isDigits(sha1, count: 40) else {
                throw ServerError.badRequest("payloadSHA1 is 40 hex digits, and only for a release with a url")
            }
            release.payloadSHA1 = sha1.lowercased()
        }
        return release
    }

    /// Checks a chunk index against the release: its signature, and when it
    /// comes with the request, its bytes (size, digest, structure, and that it
    /// describes this manifest's image and payload). Returns the bytes to store.
    private func validateIndex(_ deploy: DeployRequest, _ record: inout ReleaseRecord) throws(ServerError) -> [UInt8]? {
        guard var index = deploy.index else {
            if deploy.indexData != nil { throw ServerError.badRequest("indexData without index") }
            return nil
        }
        guard index.size > 0, index.size <= ChunkIndexReference.maxSize, Hex.isDigits(index.sha256, count: 64) else {
            throw ServerError.badRequest("index: size must be 1 to \(ChunkIndexReference.maxSize) bytes and sha256 64 hex digits")
        }
        index.sha256 = index.sha256.lowercased()
        index.signature = index.signature.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let raw = Data(base64Encoded: index.signature), raw.count == 64 else {
            throw ServerError(.badSignature, "index: signature must be a base64 Ed25519 signature (64 bytes)")
        }
        if let key = state.configuration.releasePublicKey,
            !ReleaseSignature.isValid(index.signature, for: deploy.manifest.indexSigningBytes(sha256: index.sha256, size: index.size), publicKeyBase64: key)
        {
            throw ServerError(.badSignature, "the chunk index's signature does not verify against this server's release key")
        }
        guard let text = deploy.indexData else {
            index.url = try Self.validateExternalURL(index.url)
            record.index = index
            return nil
        }
        guard let data = Data(base64Encoded: text).map([UInt8].init), UInt64(data.count) == index.size,
            Hex.string(SHA256.hash(data: data)) == index.sha256
        else {
            throw ServerError.badRequest("indexData is not the index the reference describes (size \(index.size), sha256 \(index.sha256))")
        }
        let parsed: ChunkIndex
        do {
            parsed = try ChunkIndex(parsing: data)
        } catch {
            throw ServerError.badRequest("indexData: \(error.message)", cause: error)
        }
        guard parsed.matches(deploy.manifest) else {
            throw ServerError.badRequest("the chunk index describes another image or payload than the manifest")
        }
        index.url = ""
        record.index = index
        return data
    }

    static func validate(maxInTrial: Int) throws(ServerError) {
        guard (0...1_000_000).contains(maxInTrial) else { throw ServerError.badRequest("maxInTrial must be 0 (no gate) to 1000000") }
    }

    private func verifySignature(_ signature: String, _ manifest: ReleaseManifest) throws(ServerError) {
        guard let raw = Data(base64Encoded: signature.trimmingCharacters(in: .whitespacesAndNewlines)), raw.count == 64 else {
            throw ServerError(.badSignature, "signature must be a base64 Ed25519 signature (64 bytes)")
        }
        guard let key = state.configuration.releasePublicKey else { return }
        guard ReleaseSignature.isValid(signature, for: manifest, publicKeyBase64: key) else {
            throw ServerError(.badSignature, "the manifest's signature does not verify against this server's release key")
        }
    }

    static func slot(name: String, start: Double, end: Double) throws(ServerError) -> ExperimentSlot {
        let name = try Identifier(name, what: "experiment name")
        let startBucket = try Percent.basisPoints(start, field: "experiment start")
        let endBucket = try Percent.basisPoints(end, field: "experiment end")
        guard startBucket < endBucket else {
            throw ServerError.badRequest("an experiment arm needs start < end, got [\(start), \(end))")
        }
        return ExperimentSlot(name: name.value, startBucket: startBucket, endBucket: endBucket)
    }

    static func validateExternalURL(_ text: String) throws(ServerError) -> String {
        guard text.utf8.count <= 2048, let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = components.host, !host.isEmpty,
            !text.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7f })
        else {
            throw ServerError.badRequest("url must be an absolute http(s) URL of at most 2048 bytes")
        }
        return text
    }
}
