import SlotCodec
import Hummingbird
import NIOCore
import Prometheus
import SlotWire

/// Answers a check: decode, validate, choose from the catalog, record the
/// check-in, count it. Synchronous, so the event-loop fast path
/// (``CheckFastPathHandler``) and the Hummingbird route (``CheckRoute``) share it.
struct CheckAnswerer: Sendable {
    let state: ServerState
    let answers = AnswerCache()

    /// The fast parser when the body is plain, JSONDecoder (and its error
    /// message) otherwise; then the field rules.
    func decode(_ body: ByteBuffer) throws(ServerError) -> CheckRequest {
        let check: CheckRequest
        if let fast = body.readableBytesView.withContiguousStorageIfAvailable({ CheckRequestParser.parse(UnsafeRawBufferPointer($0)) }) ?? nil {
            check = fast
        } else {
            check = try JSONBody.decode(CheckRequest.self, from: body)
        }
        try FieldRules.validate(check)
        return check
    }

    /// Whether the enrolled device the check speaks for sent it (see
    /// ``DeviceAuthenticator``); `.unknown` needs the store, so the fast path
    /// hands such a check to ``CheckRoute``. The per-address limit comes
    /// first: a flood of refusals is as limited as a flood of checks.
    func authenticate(
        _ check: CheckRequest, credentials: DeviceCredentials, body: ByteBuffer, peer: String?
    ) throws(ServerError) -> DeviceAuthenticator.Outcome {
        try RequestLimits.enforce(state.limits.checkPerAddress, peer, "this address")
        if credentials.isEmpty && state.deviceAuth.allowAnonymous { return .anonymous }
        let digest = body.withUnsafeReadableBytes { DeviceAuth.digest(of: $0) }
        let outcome = try state.deviceAuth.authenticate(method: "POST", path: "/v1/check", credentials: credentials, bodyDigest: digest)
        if case .device(let id) = outcome { try DeviceAuthenticator.requireSame(check.clientId, as: id) }
        return outcome
    }

    /// The `Slot-Freshness` value every answer carries, 200 and 204 alike.
    var freshness: String? { state.catalog.freshness?.header }

    /// The gated release this check would get if the store admitted the device
    /// to its trial; nil when there is nothing to ask (no gate, admitted
    /// already, or the trial known full). The fast path hands such a check to
    /// ``CheckRoute``, which asks (``admit(_:)``).
    func admissionCandidate(_ check: CheckRequest) -> ReleaseRecord? {
        if case .admission(let release) = choice(check) { return release }
        return nil
    }

    enum Choice {
        /// What the check gets now (nil: nothing, 204).
        case release(ReleaseRecord?)
        /// The gated release it would get once the store admits it to the trial.
        case admission(ReleaseRecord)
    }

    /// ``admissionCandidate(_:)`` and ``choose(_:)`` in one pass over the
    /// catalog (the fast path's): the first release the device is inside the
    /// rollout of and not kept out of by a full trial is either one it may have
    /// now, which is then also what ``choose(_:)`` returns (every release before
    /// it failed a weaker test), or one it needs admission to.
    func choice(_ check: CheckRequest) -> Choice {
        choice(check, among: state.catalog.track(channel: check.channel, compatible: check.compatible).releases)
    }

    /// The same among the releases of the check's track (newest first), as a
    /// ``ReleaseCatalog/TrackReader`` read them.
    func choice(_ check: CheckRequest, among releases: [ReleaseRecord]?) -> Choice {
        guard let releases else { return .release(nil) }
        let gate = state.trials
        let release = RolloutPolicy.choose(among: releases, for: check) { gate.mayOffer($0, to: check.clientId) || !gate.isKnownFull($0.id) }
        guard let release, !gate.mayOffer(release, to: check.clientId) else { return .release(release) }
        return .admission(release)
    }

    /// Asks the store to admit the device to each trial it would enter, newest
    /// first, until what the check gets needs no asking: admitted, or passed
    /// over because the trial is full. Callers apply the device's rate limit
    /// first, so that a device over it cannot take a place.
    func admit(_ check: CheckRequest) async throws(ServerError) {
        for _ in 0..<8 {
            guard let release = admissionCandidate(check) else { return }
            let now = Timestamp.nowMillis()
            let cutoff = now - Int64(release.trialTimeoutSeconds) * 1000
            if try await state.store.admitTrial(
                releaseId: release.id, clientId: check.clientId, max: release.maxInTrial, cutoffMillis: cutoff, atMillis: now)
            {
                state.trials.admitted(release.id, check.clientId)
            } else {
                state.trials.full(release.id)
            }
        }
    }

    /// The release this check gets: the newest it is inside the rollout of, among
    /// those whose gate lets it in (after ``admit(_:)``).
    func choose(_ check: CheckRequest) -> ReleaseRecord? {
        let gate = state.trials
        return state.catalog.choose(for: check) { gate.mayOffer($0, to: check.clientId) }
    }

    /// The encoded release for a decoded, authenticated check, or nil for 204.
    /// A device or an address over its rate limit gets `429` and is not recorded.
    /// A gated release goes only to devices admitted to its trial (``admit(_:)``).
    func answer(_ check: CheckRequest, authority: String?, deviceLimitChecked: Bool = false) throws(ServerError) -> ByteBuffer? {
        if !deviceLimitChecked { try limitDevice(check) }
        return try answer(check, chosen: choose(check), authority: authority)
    }

    /// The per-device rate limit on checks (`429` with `Retry-After`).
    func limitDevice(_ check: CheckRequest) throws(ServerError) {
        try RequestLimits.enforce(state.limits.checkPerDevice, check.clientId, "client \(check.clientId)")
    }

    /// The same for a check past the device's rate limit whose release the
    /// caller chose already (``choice(_:)``): records and counts it.
    func answer(_ check: CheckRequest, chosen: ReleaseRecord?, authority: String?) throws(ServerError) -> ByteBuffer? {
        record(check, chosen: chosen)
        return try chosen.map { release throws(ServerError) in try body(for: release, authority: authority) }
    }

    /// Records the check-in and counts the answer: `chosen`, or nil for 204
    /// (`counter`: its answer counter, when the caller keeps it).
    func record(_ check: CheckRequest, chosen: ReleaseRecord?, counter: Counter? = nil) {
        state.recorder.record(check, offered: chosen?.id, atMillis: Timestamp.nowMillis())
        state.metrics.answered(releaseId: chosen?.id, counter: counter)
    }

    /// The encoded 200 body that offers `release` to a device that asked `authority`.
    func body(for release: ReleaseRecord, authority: String?) throws(ServerError) -> ByteBuffer {
        try answers.answer(for: release, base: PayloadURL.base(authority: authority, configuration: state.configuration))
    }
}
