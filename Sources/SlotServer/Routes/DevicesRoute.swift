import SlotCodec
import Hummingbird

/// `GET /v1/devices?limit=N&after=CLIENTID` (admin): devices by client id, one page at a time.
struct DevicesRoute {
    let state: ServerState

    func register(on router: Router<SlotRequestContext>) {
        router.get("/v1/devices") { request, _ in try await handle(request) }
    }

    func handle(_ request: Request) async throws(ServerError) -> Response {
        try state.auth.require(request)
        let query = request.uri.queryParameters
        let maxPage = state.configuration.limits.devicesPerPage
        var limit = min(1000, maxPage)
        if let text = query["limit"] {
            guard let n = Int(String(text)), (1...maxPage).contains(n) else {
                throw ServerError.badRequest("limit must be 1 to \(maxPage)")
            }
            limit = n
        }
        let after = query["after"].map(String.init)
        if let after { try FieldRules.text(after, "after") }
        // This instance's pending check-ins first, so the listing is current.
        try? await state.recorder.flush(to: state.store)
        let devices = try await state.store.devices(after: after, limit: limit)
        let total = try await state.store.deviceCount()
        let infos = devices.map { device in
            DeviceInfo(
                clientId: device.clientId, compatible: device.compatible, channel: device.channel, version: device.version,
                slot: device.slot, lastCheck: Timestamp.iso8601(millis: device.lastCheckMillis),
                offeredRelease: device.offeredReleaseId, checks: device.checks, product: device.product,
                revoked: device.revokedMillis.map { Timestamp.iso8601(millis: $0) })
        }
        return try JSONBody.response(DeviceList(total: total, devices: infos, next: devices.count == limit ? devices.last?.clientId : nil))
    }
}
