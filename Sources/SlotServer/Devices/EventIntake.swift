import SlotCodec
import SlotWire

/// Where device reports go, whoever sent them (`POST /v1/events`, DDI
/// feedback): stored, counted, and every release they mention judged against
/// the auto-pause rule (a share can pass the threshold through a failure or
/// through the report that reaches the minimum number of reporting devices).
struct EventIntake {
    let state: ServerState

    func accept(_ events: [DeviceEvent]) async throws(ServerError) {
        try await state.store.insertEvents(events, receivedAtMillis: Timestamp.nowMillis())
        state.metrics.received(events)
        for releaseId in Set(events.compactMap(\.releaseId)).sorted() {
            try await checkAutoPause(releaseId: releaseId)
        }
    }

    /// Pauses the release when its failure share passed the threshold. The
    /// in-memory catalog filters out unknown, paused and exempt releases first,
    /// so ordinary reports cost no extra query; the store re-checks atomically.
    private func checkAutoPause(releaseId: String) async throws(ServerError) {
        guard let release = state.catalog.release(id: releaseId), !release.paused, release.autoPause else { return }
        let tally = try await state.store.eventTally(releaseId: releaseId)
        guard let reason = state.configuration.autoPause.verdict(tally) else { return }
        if try await state.store.autoPause(id: releaseId, reason: reason) {
            state.metrics.autoPauses.increment()
            state.logger.warning("release \(releaseId) paused itself: \(reason)")
            await state.releasesChanged()
        }
    }
}
