import Glibc
import Synchronization

/// Failure on purpose, for tests: a syscall that returns an errno, or a
/// process that dies at a named point. Compiled only into debug builds
/// (`SLOTCTL_FAILPOINTS`); release builds carry none of it.
///
/// - `SLOTCTL_FAILPOINT=name[:n]` ends the process with `_exit(99)` at the
///   n-th time (default first) execution passes `FailPoint.hit("name")`.
/// - ``FaultInjection/fail(_:pathContaining:errno:afterHits:)`` makes one
///   wrapped syscall fail in-process, for unit tests.
public enum FaultInjection {
    public struct Rule: Sendable {
        public var id: Int
        public var call: String
        public var pathContaining: String?
        public var errno: Int32
        /// How many matching calls succeed before the failure starts.
        public var afterHits: Int
        /// How many times it fails once it starts (nil: forever).
        public var times: Int?
    }

    #if SLOTCTL_FAILPOINTS
    private static let rules = Mutex<[Rule]>([])
    private static let nextID = Mutex(0)
    private static let pointHits = Mutex<[String: Int]>([:])
    #endif

    /// Makes the named syscall wrapper (`open`, `write`, `fsync`, `rename`,
    /// `read`, `flock`, `mkdir`, ...) fail with `errno` for paths containing
    /// the given text.
    /// Returns the rule's id, for ``remove(_:)``: tests run in parallel, so
    /// each removes only its own rules (and scopes them to its own paths).
    @discardableResult
    public static func fail(
        _ call: String, pathContaining: String? = nil, errno: Int32 = EIO, afterHits: Int = 0, times: Int? = nil
    ) -> Int {
        #if SLOTCTL_FAILPOINTS
        let id = nextID.withLock { $0 += 1; return $0 }
        rules.withLock { $0.append(Rule(id: id, call: call, pathContaining: pathContaining, errno: errno, afterHits: afterHits, times: times)) }
        return id
        #else
        return 0
        #endif
    }

    /// Makes reads of matching paths return flipped bits, as a failing
    /// medium would: the read-back check must notice.
    @discardableResult
    public static func corruptReads(pathContaining: String) -> Int {
        fail("corrupt-read", pathContaining: pathContaining, errno: 0)
    }

    public static func remove(_ id: Int) {
        #if SLOTCTL_FAILPOINTS
        rules.withLock { $0.removeAll { $0.id == id } }
        #endif
    }

    public static func reset() {
        #if SLOTCTL_FAILPOINTS
        rules.withLock { $0.removeAll() }
        pointHits.withLock { $0.removeAll() }
        #endif
    }

    /// Whether fault injection is compiled in (debug builds).
    public static var isAvailable: Bool {
        #if SLOTCTL_FAILPOINTS
        true
        #else
        false
        #endif
    }

    /// Called by every syscall wrapper; returns the errno to fail with, if any.
    @inline(__always)
    static func check(_ call: String, path: String?) -> Errno? {
        #if SLOTCTL_FAILPOINTS
        return rules.withLock { rules -> Errno? in
            for index in rules.indices {
                let rule = rules[index]
                guard rule.call == call else { continue }
                if let needle = rule.pathContaining {
                    guard let path, path.contains(needle) else { continue }
                }
                if rules[index].afterHits > 0 {
                    rules[index].afterHits -= 1
                    continue
                }
                if let times = rule.times {
                    if times <= 0 { continue }
                    rules[index].times = times - 1
                }
                return Errno(rawValue: rule.errno)
            }
            return nil
        }
        #else
        return nil
        #endif
    }

    #if SLOTCTL_FAILPOINTS
    fileprivate static let requestedPoint: (name: String, count: Int)? = {
        guard let raw = getenv("SLOTCTL_FAILPOINT") else { return nil }
        let text = String(cString: raw)
        let parts = text.split(separator: ":", maxSplits: 1)
        guard let name = parts.first else { return nil }
        let count = parts.count > 1 ? Int(parts[1]) ?? 1 : 1
        return (String(name), count)
    }()

    fileprivate static func countHit(_ name: String) -> Int {
        pointHits.withLock { hits in
            hits[name, default: 0] += 1
            return hits[name]!
        }
    }
    #endif
}

/// Named places where a crash test may end the process.
public enum FailPoint {
    @inline(__always)
    public static func hit(_ name: String) {
        #if SLOTCTL_FAILPOINTS
        guard let requested = FaultInjection.requestedPoint, requested.name == name else { return }
        if FaultInjection.countHit(name) == requested.count {
            _exit(99)
        }
        #endif
    }
}
