import Logging
import ServiceLifecycle

/// Reloads the ``ReleaseCatalog`` and the enrolment changes of the
/// ``DeviceDirectory`` every `interval`, so replicas pick up each other's
/// deploys, PATCHes, enrolments and revocations. Errors are logged; the last
/// good state stays.
struct CatalogRefresher: Service {
    let catalog: ReleaseCatalog
    let devices: DeviceDirectory
    let interval: Duration
    let metrics: ServerMetrics
    let logger: Logger

    func run() async throws {
        await repeatUntilShutdown(every: interval) {
            guard catalog.isLoaded else { return }
            do {
                try await catalog.reload()
                metrics.updatePaused(catalog.published)
            } catch {
                logger.warning("reloading the release catalog failed: \(error)")
            }
            do {
                try await devices.refresh()
            } catch {
                logger.warning("reloading enrolled devices failed: \(error)")
            }
        }
    }
}
