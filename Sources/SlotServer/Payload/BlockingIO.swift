import Foundation

/// Runs a blocking system call (fsync, rename of a large file) on its own
/// thread, so it never parks one of the few cooperative threads that answer
/// checks. Used once per upload, not per request.
enum BlockingIO {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws(ServerError) -> T) async throws(ServerError) -> T {
        let result: Result<T, ServerError> = await withCheckedContinuation { continuation in
            let thread = Thread {
                do throws(ServerError) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            thread.start()
        }
        return try result.get()
    }
}
