import Foundation
import Testing

/// The threads the server tests run on: the in-process servers and the test
/// bodies with their HTTP clients. `swift test` runs every target's tests in
/// one process whose cooperative pool has one thread per core (two in CI),
/// and other targets' tests block those threads while they wait for a
/// `slotctl` child process; a server test sharing that pool could then miss
/// its clients' 15-second read timeout. A real slot-server has its process
/// to itself.
final class ServerExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = ServerExecutor(threads: 8)

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    init(threads: Int) {
        for index in 0..<threads {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "server-test-\(index)"
            thread.start()
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// `@Suite(.serverThreads)`: the suite's tests run on ``ServerExecutor``.
struct ServerThreads: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await withTaskExecutorPreference(ServerExecutor.shared) { try await function() }
    }
}

extension Trait where Self == ServerThreads {
    static var serverThreads: Self { ServerThreads() }
}
