import Glibc

/// A plain POSIX thread running one closure, joined explicitly. The image
/// writer's pipeline stages block on I/O, which is what threads are for;
/// Swift concurrency's cooperative pool must not be blocked like that.
public final class WorkerThread: @unchecked Sendable {
    // Written once by `init`, read by `join` on the creating thread only.
    private var thread: pthread_t = 0

    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    public init(_ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { context in
            Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    public func join() {
        pthread_join(thread, nil)
    }

    /// For a thread nobody will join: its resources go when it ends.
    public func detach() {
        pthread_detach(thread)
    }
}
