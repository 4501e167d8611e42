import Foundation

/// Server time as epoch milliseconds (what the stores keep) and ISO 8601 (what the API shows).
enum Timestamp {
    static func nowMillis() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded())
    }

    static func iso(millis: Int64) -> String {
        Date(timeIntervalSince1970: Double(millis) / 1000).formatted(.iso8601)
    }
}
