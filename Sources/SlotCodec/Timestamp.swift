import Glibc

/// Wall-clock time and its one printed form, ISO 8601 UTC to the second
/// (`2026-11-29T10:00:00Z`), without Foundation's formatters (the core and
/// the boot hook must not link ICU).
public enum Timestamp {
    /// Seconds since the epoch.
    public static func nowSeconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec)
    }

    /// Milliseconds since the epoch (what the server's stores keep).
    public static func nowMillis() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    public static func iso8601(seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))Z"
    }

    /// Milliseconds floor to the second: the API shows seconds.
    public static func iso8601(millis: Int64) -> String {
        iso8601(seconds: millis >= 0 ? millis / 1000 : (millis - 999) / 1000)
    }
}

extension Duration {
    /// The duration in seconds, fractions included (rates, throughput).
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
