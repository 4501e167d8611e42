import Hummingbird
import SlotCodec

/// The read-only admin views of releases: `GET /v1/releases`,
/// `GET /v1/releases/{id}` and `GET /v1/releases/{id}/stats`.
struct ReleaseQueryRoutes {
    let state: ServerState

    func register(on router: Router<SlotRequestContext>) {
        router.get("/v1/releases") { request, _ in try await list(request) }
        router.get("/v1/releases/:id") { request, context in try await show(request, context: context) }
        router.get("/v1/releases/:id/stats") { request, context in try await stats(request, context: context) }
    }

    func list(_ request: Request) async throws(ServerError) -> Response {
        try state.auth.require(request)
        let releases = try await state.store.allReleases()
        return try JSONBody.response(ReleaseList(releases: releases.map(ReleaseInfo.init)))
    }

    func show(_ request: Request, context: SlotRequestContext) async throws(ServerError) -> Response {
        try state.auth.require(request)
        return try JSONBody.response(ReleaseInfo(try await release(context)))
    }

    func stats(_ request: Request, context: SlotRequestContext) async throws(ServerError) -> Response {
        try state.auth.require(request)
        let release = try await release(context)
        // This instance's check-ins first, so "offered" and "running" are current.
        try? await state.recorder.flush(to: state.store)
        let tally = try await state.store.eventTally(releaseId: release.id)
        let offered = try await state.store.countDevices(offered: release.id)
        let running = try await state.store.countDevices(
            runningVersion: release.manifest.version, channel: release.channel, compatible: release.manifest.compatible)
        let policy = state.configuration.autoPause
        let cutoff = Timestamp.nowMillis() - Int64(release.trialTimeoutSeconds) * 1000
        var stats = ReleaseStats(
                release: ReleaseInfo(release), reportingDevices: tally.reportingDevices, failedDevices: tally.failedDevices,
                failureShare: tally.failureShare, devicesByEvent: tally.devicesByType, devicesOffered: offered,
                devicesRunning: running, autoPauseThreshold: policy.threshold, autoPauseMinReports: policy.minReports)
        stats.trial = try await state.store.trialCounts(releaseId: release.id, cutoffMillis: cutoff)
        return try JSONBody.response(stats)
    }

    private func release(_ context: SlotRequestContext) async throws(ServerError) -> ReleaseRecord {
        let id = try Identifier(context.parameters.get("id") ?? "", what: "release id")
        guard let release = try await state.store.release(id: id.value) else { throw ServerError.notFound("no release \(id)") }
        return release
    }
}
