import Hummingbird

/// `POST /v1/ddi/tokens` (admin): the `TargetToken` of a DDI device, to put
/// in its suricatta configuration (`-k`). Derived, not stored: asking again
/// gives the same token.
struct DDITokenRoute {
    let state: ServerState

    struct Ask: Decodable { var controllerId: String }

    func register(on router: Router<SlotRequestContext>) {
        router.post("/v1/ddi/tokens") { request, context in try await handle(request) }
    }

    func handle(_ request: Request) async throws(ServerError) -> Response {
        try state.auth.require(request)
        guard let face = state.ddi else {
            throw ServerError(.configuration, "this server has no DDI face: start it with --ddi-compatible")
        }
        let ask = try await JSONBody.decode(Ask.self, from: request, limit: state.configuration.limits.adminBody)
        let controller = try Identifier(ask.controllerId, what: "controller id").value
        return try JSONBody.response(DDITarget(controllerId: controller, token: try face.targetToken(controllerId: controller)))
    }
}

/// A DDI device's credentials, as `POST /v1/ddi/tokens` answers them.
public struct DDITarget: Codable, Sendable, Equatable {
    public var controllerId: String
    public var token: String

    public init(controllerId: String, token: String) {
        self.controllerId = controllerId
        self.token = token
    }
}
