/// A `Range: bytes=...` header against a payload of `size` bytes (RFC 9110 §14).
///
/// Only single ranges are honoured; a syntactically invalid header or a
/// multi-range request is ignored (full 200), as the RFC allows. A valid range
/// that starts beyond the end is unsatisfiable (416). Untrusted input: fuzzed
/// (Fuzz/README.md).
public enum ByteRange: Equatable, Sendable {
    case full
    case partial(ClosedRange<UInt64>)
    case unsatisfiable

    public static func parse(_ header: String?, size: UInt64) -> ByteRange {
        guard let header else { return .full }
        let trimmed = header.utf8.trimmingBlanks
        let unit = Array("bytes=".utf8)
        guard trimmed.count >= unit.count, zip(trimmed, unit).allSatisfy({ ($0 >= 0x41 && $0 <= 0x5a ? $0 | 0x20 : $0) == $1 }) else { return .full }
        let spec = trimmed.dropFirst(unit.count).trimmingBlanks
        guard !spec.contains(UInt8(ascii: ",")), let dash = spec.firstIndex(of: UInt8(ascii: "-")) else { return .full }
        let first = spec[..<dash].trimmingBlanks
        let last = spec[spec.index(after: dash)...].trimmingBlanks
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
    public init?(digits: some Collection<UInt8>) {
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        var value: UInt64 = 0
        for digit in digits {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit - 0x30))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        self = value
    }

    /// Only ASCII digits, no sign, no overflow.
    public init?(digits: String) {
        self.init(digits: digits.utf8)
    }
}

extension Collection where Element == UInt8 {
    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
    var trimmingBlanks: SubSequence {
        let isBlank = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        guard let first = firstIndex(where: { !isBlank($0) }) else { return self[endIndex...] }
        var end = first
        var index = first
        while index != endIndex {
            if !isBlank(self[index]) { end = self.index(after: index) }
            index = self.index(after: index)
        }
        return self[first..<end]
    }
}
