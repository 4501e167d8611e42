import Foundation

/// A release id, experiment name or channel name: 1 to 64 of `[A-Za-z0-9._-]`,
/// not starting with a dot. Validated before use anywhere, so an id can never
/// be a path (`../x`, `a/b`), carry a NUL, or break a metric label.
public struct Identifier: Sendable, Hashable, CustomStringConvertible {
    public let value: String

    public init(_ value: String, what: String = "id") throws(ServerError) {
        guard Self.isValid(value) else {
            let shown = value.unicodeScalars.prefix(80).map { $0.isASCII && $0.value >= 0x20 && $0.value != 0x7f ? String($0) : "?" }.joined()
            throw ServerError.badRequest("invalid \(what) '\(shown)': use 1 to 64 of A-Z a-z 0-9 . _ - (not starting with '.')")
        }
        self.value = value
    }

    public static func isValid(_ value: String) -> Bool {
        let bytes = value.utf8
        guard (1...64).contains(bytes.count), bytes.first != UInt8(ascii: ".") else { return false }
        return bytes.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }

    /// A new release id: the version made id-safe plus 8 random hex digits,
    /// readable in `releases` and unique across replicas.
    static func newReleaseID(version: String) -> Identifier {
        var stem = String(version.unicodeScalars.map { scalar -> Character in
            let c = Character(scalar)
            return scalar.isASCII && (c.isLetter || c.isNumber || c == "." || c == "_" || c == "-") ? c : "_"
        }.prefix(40))
        while stem.hasPrefix(".") { stem.removeFirst() }
        let random = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(8)
        let value = stem.isEmpty ? "r-\(random)" : "\(stem)-\(random)"
        return try! Identifier(value)
    }

    public var description: String { value }
}
