import Hummingbird
import SlotWire

/// `POST /v1/check`: 200 with the release for this device, or 204.
///
/// Most checks never get here: ``CheckFastPathHandler`` answers them on the
/// event loop. This route serves what it hands over (unusual bodies, errors,
/// pipelined requests behind other ones) with the same ``CheckAnswerer``.
struct CheckRoute {
    let state: ServerState
    let answerer: CheckAnswerer

    static let freshnessField = HTTPFields.Element.Name(FreshnessStatement.headerName)!

    func register(on router: Router<SlotRequestContext>) {
        router.post("/v1/check") { request, context in try await handle(request, peer: context.peer) }
    }

    func handle(_ request: Request, peer: String?) async throws(ServerError) -> Response {
        let body = try await JSONBody.collect(request, limit: state.configuration.limits.checkBody)
        let check = try answerer.decode(body)
        try RequestLimits.enforce(state.limits.checkPerAddress, peer, "this address")
        let device = try await state.deviceAuth.authenticateLoading(
            method: "POST", path: request.head.path ?? "/v1/check", credentials: DeviceCredentials(request.headers),
            body: Array(body.readableBytesView))
        try DeviceAuthenticator.requireSame(check.clientId, as: device)
        try answerer.limitDevice(check)
        try await answerer.admit(check)
        var headers = HTTPFields()
        if let freshness = answerer.freshness { headers[Self.freshnessField] = freshness }
        guard let answer = try answerer.answer(check, authority: request.head.authority, deviceLimitChecked: true) else {
            return Response(status: .noContent, headers: headers)
        }
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: answer))
    }
}
