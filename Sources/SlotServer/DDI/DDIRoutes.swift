import Crypto
import Hummingbird
import SlotCodec
import SlotWire
import Synchronization

/// What the DDI face needs beyond its configuration: the secret that target
/// tokens are derived from, loaded from the store at start (shared by replicas).
final class DDIFace: Sendable {
    let configuration: DDIConfiguration
    private let secret = Mutex<SymmetricKey?>(nil)

    init(configuration: DDIConfiguration) {
        self.configuration = configuration
    }

    func start(store: any MetadataStore) async throws(ServerError) {
        let hex = try await store.sharedSecret(named: "ddi-targets")
        guard let bytes = Hex.bytes(hex), bytes.count == 32 else {
            throw ServerError.storage("the stored ddi-targets secret is not 32 bytes of hex")
        }
        secret.withLock { $0 = SymmetricKey(data: bytes) }
    }

    /// A device's `TargetToken`: derived from the controller id and the
    /// server's secret, so no replica keeps a table of them.
    func targetToken(controllerId: String) throws(ServerError) -> String {
        guard let key = secret.withLock({ $0 }) else { throw ServerError(.internal, "the DDI face is not started") }
        return Hex.string(HMAC<SHA256>.authenticationCode(for: Array("slotctl-ddi-target-v1\n\(controllerId)".utf8), using: key))
    }

    /// Whether `Authorization` carries this device's target token or the gateway token.
    func authenticate(_ authorization: String?, controllerId: String) throws(ServerError) {
        guard let authorization, let space = authorization.firstIndex(of: " ") else {
            throw ServerError(.unauthorized, "DDI requests need 'Authorization: TargetToken <token>' or 'GatewayToken <token>'")
        }
        let scheme = authorization[..<space].lowercased()
        let presented = authorization[authorization.index(after: space)...].trimmingCharacters(in: .whitespaces)
        let expected: String?
        switch scheme {
        case "targettoken": expected = try targetToken(controllerId: controllerId)
        case "gatewaytoken": expected = configuration.gatewayToken
        default: expected = nil
        }
        guard let expected, AdminAuthenticator.matches(presented, Array(SHA256.hash(data: Array(expected.utf8)))) else {
            throw ServerError(.unauthorized, "the \(scheme == "gatewaytoken" ? "gateway" : "target") token is not valid for \(controllerId)")
        }
    }
}

/// hawkBit's Direct Device Integration API, the subset SWUpdate's suricatta
/// uses, over the same catalog, health gate, check-in records and auto-pause
/// as native devices. Answers are 200 or an error: suricatta takes 201 and
/// 204 for failures.
///
/// A DDI device does not say what it runs. The server keeps, per controller
/// id (``DDIDeviceRecord``), the version it last confirmed and the action it
/// opened; the action id is the release's deploy order. An action stays open
/// until the device closes it (suricatta reports success only after it is
/// restarted with `-c 2`, once the new slot is confirmed), and becomes a
/// cancel when its release is paused before that.
struct DDIRoutes {
    let state: ServerState
    let answerer: CheckAnswerer
    let face: DDIFace

    static let prefix = "/:tenant/controller/v1/:controller"

    func register(on router: Router<SlotRequestContext>) {
        router.get(RouterPath(Self.prefix)) { request, context in try await poll(request, context) }
        router.get(RouterPath(Self.prefix + "/deploymentBase/:action")) { request, context in try await deployment(request, context) }
        router.post(RouterPath(Self.prefix + "/deploymentBase/:action/feedback")) { request, context in try await feedback(request, context, cancel: false) }
        router.get(RouterPath(Self.prefix + "/cancelAction/:action")) { request, context in try await cancelAction(request, context) }
        router.post(RouterPath(Self.prefix + "/cancelAction/:action/feedback")) { request, context in try await feedback(request, context, cancel: true) }
        router.put(RouterPath(Self.prefix + "/configData")) { request, context in try await configData(request, context) }
        router.get(RouterPath(Self.prefix + "/softwaremodules/:action/artifacts/:file")) { request, context in try await artifact(request, context, head: false) }
        router.head(RouterPath(Self.prefix + "/softwaremodules/:action/artifacts/:file")) { request, context in try await artifact(request, context, head: true) }
    }

    // MARK: - Endpoints

    func poll(_ request: Request, _ context: SlotRequestContext) async throws(ServerError) -> Response {
        let controller = try device(request, context)
        let now = Timestamp.nowMillis()
        var record = try await state.store.ddiDevice(controllerId: controller) ?? DDIDeviceRecord(controllerId: controller, updatedMillis: now)
        let before = record
        var links: [String: DDIWire.Link] = [:]
        let base = baseURL(request, context)

        if let open = record.actionReleaseId, let release = try await release(id: open) {
            if release.paused {
                links["cancelAction"] = .init(href: "\(base)/cancelAction/\(release.publishedSeq ?? 0)")
            } else {
                links["deploymentBase"] = .init(href: "\(base)/deploymentBase/\(release.publishedSeq ?? 0)")
            }
        } else {
            record.actionReleaseId = nil
            // No per-device limit: the server sets the polling pace (--ddi-poll), and the
            // per-address limit of every DDI request holds floods back.
            let check = checkRequest(record)
            try await answerer.admit(check)
            if let chosen = answerer.choose(check), chosen.payloadSHA1 != nil,
                !(try await state.store.reported(clientId: controller, releaseId: chosen.id, types: ["failed", "fell-back"]))
            {
                record.actionReleaseId = chosen.id
                record.actionProceeding = false
                links["deploymentBase"] = .init(href: "\(base)/deploymentBase/\(chosen.publishedSeq ?? 0)")
            }
        }
        state.recorder.record(checkRequest(record), offered: record.actionReleaseId, atMillis: now)
        // Offered only until the device sent it once: while suricatta sees the link it
        // sends configData instead of installing.
        if record.configMillis == nil { links["configData"] = .init(href: "\(base)/configData") }
        if record != before {
            record.updatedMillis = now
            try await state.store.saveDDIDevice(record)
        }
        return try JSONBody.response(DDIWire.Base(sleep: DDIWire.sleep(seconds: face.configuration.pollSeconds), links: links))
    }

    func deployment(_ request: Request, _ context: SlotRequestContext) async throws(ServerError) -> Response {
        _ = try device(request, context)
        let release = try await action(context)
        guard let sha1 = release.payloadSHA1 else { throw ServerError.notFound("release \(release.id) has no SHA-1 for DDI devices") }
        let seq = release.publishedSeq ?? 0
        let href = release.externalURL ?? "\(baseURL(request, context))/softwaremodules/\(seq)/artifacts/\(Self.artifactName(release))"
        let artifact = DDIWire.Artifact(
            filename: Self.artifactName(release), size: release.manifest.payloadSize,
            hashes: .init(sha1: sha1, sha256: release.payloadSHA256 ?? release.manifest.sha256),
            _links: ["download": .init(href: href), "download-http": .init(href: href)])
        return try JSONBody.response(
            DDIWire.Deployment(
                id: String(seq),
                deployment: .init(chunks: [
                    .init(part: "os", version: release.manifest.version, name: release.manifest.compatible, artifacts: [artifact])
                ])))
    }

    func cancelAction(_ request: Request, _ context: SlotRequestContext) async throws(ServerError) -> Response {
        _ = try device(request, context)
        let release = try await action(context)
        let id = String(release.publishedSeq ?? 0)
        return try JSONBody.response(DDIWire.Cancel(id: id, cancelAction: .init(stopId: id)))
    }

    /// Feedback on an action. Only the device's open action counts: a stale
    /// report (a restart with an old state) for another action is acknowledged
    /// and ignored.
    func feedback(_ request: Request, _ context: SlotRequestContext, cancel: Bool) async throws(ServerError) -> Response {
        let controller = try device(request, context)
        let release = try await action(context)
        let body = Array(try await JSONBody.collect(request, limit: state.configuration.limits.eventsBody).readableBytesView)
        guard let feedback = DDIFeedback.parse(body) else { throw ServerError.badRequest("feedback without status.execution") }
        let now = Timestamp.nowMillis()
        guard var record = try await state.store.ddiDevice(controllerId: controller), record.actionReleaseId == release.id else {
            return try JSONBody.response(EmptyAnswer())
        }
        var events: [DeviceEventType] = []
        switch (feedback.execution, feedback.finished) {
        case ("closed", _) where cancel:
            record.actionReleaseId = nil
        case ("closed", "success"):
            if !record.actionProceeding { events.append(.downloaded) }
            events.append(.markedGood)
            record.version = release.manifest.version
            record.actionReleaseId = nil
        case ("closed", _), ("rejected", _):
            events.append(.failed)
            record.actionReleaseId = nil
        case ("canceled", _):
            record.actionReleaseId = nil
        default:
            if !record.actionProceeding {
                events.append(.downloaded)
                record.actionProceeding = true
            }
        }
        if !events.isEmpty {
            let at = Timestamp.iso8601(millis: now)
            try await EventIntake(state: state).accept(
                events.map { DeviceEvent(clientId: controller, releaseId: release.id, type: $0, detail: "ddi", at: at) })
        }
        record.updatedMillis = now
        try await state.store.saveDDIDevice(record)
        return try JSONBody.response(EmptyAnswer())
    }

    func configData(_ request: Request, _ context: SlotRequestContext) async throws(ServerError) -> Response {
        let controller = try device(request, context)
        _ = try await JSONBody.collect(request, limit: state.configuration.limits.adminBody)
        let now = Timestamp.nowMillis()
        var record = try await state.store.ddiDevice(controllerId: controller) ?? DDIDeviceRecord(controllerId: controller, updatedMillis: now)
        record.configMillis = now
        record.updatedMillis = now
        try await state.store.saveDDIDevice(record)
        return try JSONBody.response(EmptyAnswer())
    }

    func artifact(_ request: Request, _ context: SlotRequestContext, head: Bool) async throws(ServerError) -> Response {
        _ = try device(request, context)
        let release = try await action(context)
        return try await PayloadRoute(state: state).serve(try Identifier(release.id, what: "release id"), request, context: context, head: head)
    }

    // MARK: - Helpers

    struct EmptyAnswer: Encodable {}

    static func artifactName(_ release: ReleaseRecord) -> String { release.id + ".swu" }

    /// The controller id of an authenticated request to this server's tenant.
    private func device(_ request: Request, _ context: SlotRequestContext) throws(ServerError) -> String {
        let tenant = context.parameters.get("tenant") ?? ""
        guard tenant.lowercased() == face.configuration.tenant.lowercased() else {
            throw ServerError.notFound("no tenant \(tenant.prefix(64)) here")
        }
        let controller = try Identifier(context.parameters.get("controller") ?? "", what: "controller id").value
        try RequestLimits.enforce(state.limits.checkPerAddress, context.peer, "this address")
        try face.authenticate(request.headers[.authorization], controllerId: controller)
        return controller
    }

    private func checkRequest(_ record: DDIDeviceRecord) -> CheckRequest {
        CheckRequest(
            clientId: record.controllerId, compatible: face.configuration.compatible, channel: face.configuration.channel,
            version: record.version ?? "", slot: "ddi")
    }

    /// The published release whose deploy order is the `action` parameter.
    private func action(_ context: SlotRequestContext) async throws(ServerError) -> ReleaseRecord {
        guard let seq = Int64(context.parameters.get("action") ?? ""),
            let release = state.catalog.published.first(where: { $0.publishedSeq == seq })
        else { throw ServerError.notFound("no such action") }
        return release
    }

    private func release(id: String) async throws(ServerError) -> ReleaseRecord? {
        if let release = state.catalog.release(id: id) { return release }
        return try await state.store.release(id: id)
    }

    private func baseURL(_ request: Request, _ context: SlotRequestContext) -> String {
        let tenant = context.parameters.get("tenant") ?? face.configuration.tenant
        let controller = context.parameters.get("controller") ?? ""
        return PayloadURL.base(authority: request.head.authority, configuration: state.configuration) + "/\(tenant)/controller/v1/\(controller)"
    }
}
