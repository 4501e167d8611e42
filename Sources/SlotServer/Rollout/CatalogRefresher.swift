import Logging
import ServiceLifecycle

/// Reloads the ``ReleaseCatalog`` every `interval`, so replicas pick up each
/// other's deploys and PATCHes. Errors are logged; the last good catalog stays.
struct CatalogRefresher: Service {
    let catalog: ReleaseCatalog
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
        }
    }
}
