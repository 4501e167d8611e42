import SlotCodec
import Hummingbird
import SlotWire

/// `POST /v1/events`: a device's queued reports, authenticated, validated and
/// rate-limited, then handed to ``EventIntake``.
struct EventsRoute {
    let state: ServerState

    struct Accepted: Encodable { var accepted: Int }

    func register(on router: Router<SlotRequestContext>) {
        router.post("/v1/events") { request, context in try await handle(request, peer: context.peer) }
    }

    func handle(_ request: Request, peer: String?) async throws(ServerError) -> Response {
        let limits = state.configuration.limits
        try RequestLimits.enforce(state.limits.eventsPerAddress, peer, "this address")
        let body = try await JSONBody.collect(request, limit: limits.eventsBody)
        let received = try JSONBody.decode([DeviceEvent].self, from: body)
        let device = try await state.deviceAuth.authenticateLoading(
            method: "POST", path: request.head.path ?? "/v1/events", credentials: DeviceCredentials(request.headers),
            body: Array(body.readableBytesView))
        guard received.count <= limits.eventsPerBatch else {
            throw ServerError(.payloadTooLarge, "at most \(limits.eventsPerBatch) events per request, got \(received.count)")
        }
        var events: [DeviceEvent] = []
        events.reserveCapacity(received.count)
        for event in received {
            events.append(try FieldRules.validated(event))
            try DeviceAuthenticator.requireSame(event.clientId, as: device)
        }
        // A batch comes from one device; each client id it names pays, so no batch is free.
        for clientId in Set(events.map(\.clientId)).sorted() {
            try RequestLimits.enforce(state.limits.eventsPerDevice, clientId, "client \(clientId)")
        }
        try await EventIntake(state: state).accept(events)
        return try JSONBody.response(Accepted(accepted: events.count))
    }
}
