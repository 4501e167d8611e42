import Foundation

/// A `Range: bytes=...` header against a payload of `size` bytes (RFC 9110 §14).
///
/// Only single ranges are honoured; a syntactically invalid header or a
/// multi-range request is ignored (full 200), as the RFC allows. A valid range
/// that starts beyond the end is unsatisfiable (416).
enum ByteRange: Equatable {
    case full
    case partial(ClosedRange<UInt64>)
    case unsatisfiable

    static func parse(_ header: String?, size: UInt64) -> ByteRange {
        guard let header else { return .full }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("bytes=") else { return .full }
        let spec = trimmed.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .full }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        if first.isEmpty {
            // Suffix range: the last N bytes.
            guard let n = UInt64(digits: last) else { return .full }
            if n == 0 || size == 0 { return .unsatisfiable }
            return .partial((size - min(n, size))...(size - 1))
        }
        guard let start = UInt64(digits: first) else { return .full }
        var end = size == 0 ? 0 : size - 1
        if !last.isEmpty {
            guard let requested = UInt64(digits: last), requested >= start else { return .full }
            end = min(requested, end)
        }
        if start >= size { return .unsatisfiable }
        return .partial(start...end)
    }
}

extension UInt64 {
    /// Only ASCII digits, no sign, no overflow.
    init?(digits: String) {
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        self.init(digits)
    }
}
