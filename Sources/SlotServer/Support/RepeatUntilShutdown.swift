import ServiceLifecycle

/// Runs `body` every `interval` until graceful shutdown (or cancellation):
/// the loop of the server's periodic background services.
func repeatUntilShutdown(every interval: Duration, _ body: () async -> Void) async {
    while !Task.isShuttingDownGracefully && !Task.isCancelled {
        do {
            try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        } catch {
            return
        }
        await body()
    }
}
