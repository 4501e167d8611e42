import Logging
import ServiceLifecycle

/// Writes the ``CheckInRecorder``'s batch every `interval` and once more on
/// graceful shutdown, so no check recorded before a SIGTERM is lost.
struct CheckInFlusher: Service {
    let recorder: CheckInRecorder
    let store: any MetadataStore
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await repeatUntilShutdown(every: interval) { await flush() }
        await flush()
    }

    private func flush() async {
        do {
            try await recorder.flush(to: store)
        } catch {
            logger.warning("writing \(recorder.pendingCount) device check-ins failed, keeping them: \(error)")
        }
    }
}
