import SlotCore

// Here rather than beside `WorkerThread` in SlotCore: SlotCore stays free of
// Swift concurrency, so the static slot-boot links neither _Concurrency nor
// libdispatch.
extension WorkerThread {
    /// Runs `body` on a thread of its own and awaits its result: blocking
    /// work (an install, an HTTP exchange) kept off the cooperative pool.
    public static func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            WorkerThread {
                do throws(E) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }.detach()
        }
        return try result.get()
    }
}
