import Crypto
import FoundationEssentials
import Hummingbird
import SlotCodec
import SlotWire

/// Device identity: `POST /v1/enroll` and `POST /v1/session` for devices,
/// enrolment tokens, the enrolled-device list and revocation for admins.
struct IdentityRoutes {
    let state: ServerState

    func register(on router: Router<SlotRequestContext>) {
        router.post("/v1/enroll") { request, context in try await enroll(request, peer: context.peer) }
        router.post("/v1/session") { request, context in try await session(request, peer: context.peer) }
        router.post("/v1/enroll-tokens") { request, _ in try await makeToken(request) }
        router.get("/v1/devices/enrolled") { request, _ in try await enrolled(request) }
        router.post("/v1/devices/:id/revoke") { request, context in try await revoke(request, id: context.parameters.get("id") ?? "") }
    }

    /// The token proves the operator meant this product to enrol; the
    /// signature proves the device holds the key its client id comes from.
    func enroll(_ request: Request, peer: String?) async throws(ServerError) -> Response {
        try RequestLimits.enforce(state.limits.identityPerAddress, peer, "this address")
        let body = Array(try await JSONBody.collect(request, limit: 4096).readableBytesView)
        let enrol = try JSONBody.decode(EnrollRequest.self, from: ByteBuffer(bytes: body))
        let key: Curve25519.Signing.PublicKey
        do {
            key = try ReleaseSignature.publicKey(fromBase64: enrol.publicKey)
        } catch {
            throw ServerError.badRequest("publicKey: \(error.message)")
        }
        guard DeviceAuth.clientId(publicKey: key) == enrol.clientId else {
            throw ServerError(.unauthorized, "client id \(enrol.clientId) is not the one its public key gives (\(DeviceAuth.clientId(publicKey: key)))")
        }
        try state.deviceAuth.verifySigned(
            method: "POST", path: "/v1/enroll", credentials: DeviceCredentials(request.headers), body: body, clientId: enrol.clientId,
            publicKey: key)
        let hash = Hex.string(SHA256.hash(data: Array(enrol.token.utf8)))
        guard let token = try await state.store.enrollToken(sha256: hash) else {
            throw ServerError(.unauthorized, "the enrolment token is not one this server issued")
        }
        let now = Timestamp.nowMillis()
        if let expires = token.expiresMillis, expires <= now {
            throw ServerError(.unauthorized, "the enrolment token for \(token.product) expired at \(Timestamp.iso8601(millis: expires))")
        }
        let record = try await state.store.enrollDevice(
            DeviceKeyRecord(clientId: enrol.clientId, publicKey: enrol.publicKey, product: token.product, enrolledMillis: now))
        state.deviceAuth.directory.apply(record)
        state.logger.info("device \(record.clientId) enrolled for \(record.product)")
        return try JSONBody.response(EnrollAnswer(clientId: record.clientId, product: record.product))
    }

    /// A session key for an enrolled device, sealed to the X25519 key it sent.
    func session(_ request: Request, peer: String?) async throws(ServerError) -> Response {
        try RequestLimits.enforce(state.limits.identityPerAddress, peer, "this address")
        let body = Array(try await JSONBody.collect(request, limit: 4096).readableBytesView)
        let ask = try JSONBody.decode(SessionRequest.self, from: ByteBuffer(bytes: body))
        let directory = state.deviceAuth.directory
        guard let entry = try await directory.lookUp(ask.clientId) else { throw DeviceAuthenticator.unknownDevice(ask.clientId) }
        guard !entry.revoked else { throw ServerError(.deviceRevoked, "device \(ask.clientId) is revoked") }
        try state.deviceAuth.verifySigned(
            method: "POST", path: "/v1/session", credentials: DeviceCredentials(request.headers), body: body, clientId: ask.clientId,
            publicKey: entry.publicKey)
        guard let raw = Data(base64Encoded: ask.exchangeKey), let theirs = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: raw) else {
            throw ServerError.badRequest("exchangeKey: not a base64 X25519 public key (32 bytes)")
        }
        guard let secret = directory.sessionSecret else { throw ServerError(.internal, "device sessions are not ready") }
        var nonce = SystemRandomNumberGenerator()
        let expiresAt = Timestamp.nowMillis() / 1000 + DeviceAuth.sessionLifetimeSeconds
        let ticket = "v1.\(expiresAt).\(Hex.fixedWidth(nonce.next(), digits: 16))\(Hex.fixedWidth(nonce.next(), digits: 16))"
        let sessionKey = DeviceAuth.sessionKey(secret: secret, clientId: ask.clientId, ticket: ticket)
        let ours = Curve25519.KeyAgreement.PrivateKey()
        let sealed: Data
        do {
            let shared = try ours.sharedSecretFromKeyAgreement(with: theirs)
            let box = try ChaChaPoly.seal(sessionKey.withUnsafeBytes { Data($0) }, using: DeviceAuth.sealingKey(shared: shared, ticket: ticket))
            sealed = box.combined
        } catch {
            throw ServerError.badRequest("exchangeKey: no key agreement with it (\(error))")
        }
        return try JSONBody.response(
            SessionGrant(
                ticket: ticket, expiresAt: expiresAt, serverKey: ours.publicKey.rawRepresentation.base64EncodedString(),
                sealedKey: sealed.base64EncodedString()))
    }

    func makeToken(_ request: Request) async throws(ServerError) -> Response {
        try state.auth.require(request)
        let ask = try await JSONBody.decode(EnrollTokenRequest.self, from: request, limit: state.configuration.limits.adminBody)
        try FieldRules.text(ask.product, "product")
        if let days = ask.days, !(1...3650).contains(days) { throw ServerError.badRequest("days must be 1 to 3650") }
        let token = RandomToken.hex256()
        let now = Timestamp.nowMillis()
        let expires = ask.days.map { now + Int64($0) * 86_400_000 }
        try await state.store.insertEnrollToken(
            EnrollTokenRecord(sha256: Hex.string(SHA256.hash(data: Array(token.utf8))), product: ask.product, createdMillis: now, expiresMillis: expires))
        return try JSONBody.response(
            EnrollTokenInfo(token: token, product: ask.product, expires: expires.map { Timestamp.iso8601(millis: $0) }), status: .created)
    }

    func enrolled(_ request: Request) async throws(ServerError) -> Response {
        try state.auth.require(request)
        let query = request.uri.queryParameters
        var after: Int64 = 0
        if let text = query["after"] {
            guard let n = Int64(String(text)), n >= 0 else { throw ServerError.badRequest("after must be a number") }
            after = n
        }
        let limit = 1000
        let records = try await state.store.deviceKeys(changedAfter: after, limit: limit)
        return try JSONBody.response(
            EnrolledDeviceList(devices: records.map(Self.info), next: records.count == limit ? records.last?.changeSeq : nil))
    }

    func revoke(_ request: Request, id: String) async throws(ServerError) -> Response {
        try state.auth.require(request)
        try FieldRules.text(id, "client id")
        guard let record = try await state.store.revokeDevice(clientId: id, atMillis: Timestamp.nowMillis()) else {
            throw ServerError.notFound("no enrolled device \(id)")
        }
        state.deviceAuth.directory.apply(record)
        state.logger.notice("device \(id) revoked")
        return try JSONBody.response(Self.info(record))
    }

    static func info(_ record: DeviceKeyRecord) -> EnrolledDevice {
        EnrolledDevice(
            clientId: record.clientId, product: record.product, publicKey: record.publicKey,
            enrolled: Timestamp.iso8601(millis: record.enrolledMillis), revoked: record.revokedMillis.map { Timestamp.iso8601(millis: $0) })
    }
}
