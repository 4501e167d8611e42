import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The `Date` header value (RFC 9110 IMF-fixdate), formatted once per second.
enum HTTPDate {
    private static let cache = Mutex<(second: Int, text: String)>((-1, ""))

    /// Seconds since the epoch: when it changes, so does ``now``.
    static var second: Int {
        var clock = timespec()
        clock_gettime(CLOCK_REALTIME, &clock)
        return clock.tv_sec
    }

    static var now: String {
        let second = self.second
        return cache.withLock { cached in
            if cached.second == second { return cached.text }
            var t = second
            var parts = tm()
            gmtime_r(&t, &parts)
            var buffer = [CChar](repeating: 0, count: 64)
            let n = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
            let text = String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            cached = (second, text)
            return text
        }
    }
}
