import Hummingbird

/// `PATCH /v1/releases/{id}` (admin): widen or narrow a rollout, pause or
/// resume it, move an experiment arm (re-checked against the other arms).
struct RolloutRoute {
    let state: ServerState

    func register(on router: Router<SlotRequestContext>) {
        router.patch("/v1/releases/:id") { request, context in try await handle(request, context: context) }
    }

    func handle(_ request: Request, context: SlotRequestContext) async throws(ServerError) -> Response {
        try state.auth.require(request)
        let id = try Identifier(context.parameters.get("id") ?? "", what: "release id")
        let patch = try await JSONBody.decode(RolloutPatch.self, from: request, limit: state.configuration.limits.adminBody)
        let change = try Self.change(from: patch)
        if let current = try await state.store.release(id: id.value), current.experiment != nil, change.rolloutBasisPoints != nil {
            throw ServerError.badRequest("release \(id) is an experiment arm: change its arm range, not rolloutPercent")
        }
        let record = try await state.store.updateRollout(id: id.value, change: change)
        state.logger.info("release \(id) updated: rollout \(Percent.format(basisPoints: record.rolloutBasisPoints)), paused \(record.paused)")
        await state.releasesChanged()
        return try JSONBody.response(ReleaseInfo(record))
    }

    static func change(from patch: RolloutPatch) throws(ServerError) -> RolloutChange {
        var change = RolloutChange()
        if let percent = patch.rolloutPercent {
            change.rolloutBasisPoints = try Percent.basisPoints(percent, field: "rolloutPercent")
        }
        if let arm = patch.arm {
            let start = try Percent.basisPoints(arm.start, field: "arm start")
            let end = try Percent.basisPoints(arm.end, field: "arm end")
            guard start < end else { throw ServerError.badRequest("an experiment arm needs start < end") }
            change.armBuckets = start..<end
        }
        change.paused = patch.paused
        change.autoPause = patch.autoPause
        if let maxInTrial = patch.maxInTrial {
            try DeployRoute.validate(maxInTrial: maxInTrial)
            change.maxInTrial = maxInTrial
        }
        guard change != RolloutChange() else {
            throw ServerError.badRequest("nothing to change: give rolloutPercent, paused, autoPause, arm or maxInTrial")
        }
        return change
    }
}
