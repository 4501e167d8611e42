import FoundationEssentials
/// The field rules every manifest obeys, signed release or `install
/// --manifest` file alike: no control characters in text (they would forge
/// extra lines in the signed bytes), digests of the right length in hex.
public enum ManifestRules {
    public static func text(_ name: String, _ value: String) throws(WireError) {
        if value.isEmpty || value.utf8.count > 128 {
            throw WireError("\(name) must be 1 to 128 bytes long")
        }
        if value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw WireError("\(name) must not contain control characters")
        }
    }

    public static func crc32(_ value: String) throws(WireError) {
        guard isHex(value, count: 8) else { throw WireError("crc32 must be 8 hex digits, got '\(value)'") }
    }

    public static func sha256(_ value: String) throws(WireError) {
        guard isHex(value, count: 64) else { throw WireError("sha256 must be 64 hex digits") }
    }

    private static func isHex(_ value: String, count: Int) -> Bool {
        value.utf8.count == count && value.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) }
    }
}

/// What an image claims to be, from `slotctl install --manifest FILE`: the
/// JSON of a release manifest, where every field is optional (present ones
/// are checked, absent ones are not) and unknown fields are ignored.
public struct ImageManifest: Decodable, Sendable, Equatable {
    public var compatible: String?
    public var version: String?
    public var securityVersion: UInt64?
    public var size: UInt64?
    public var crc32: String?
    public var sha256: String?

    public init(compatible: String? = nil, version: String? = nil, securityVersion: UInt64? = nil, size: UInt64? = nil, crc32: String? = nil, sha256: String? = nil) {
        self.compatible = compatible
        self.version = version
        self.securityVersion = securityVersion
        self.size = size
        self.crc32 = crc32
        self.sha256 = sha256
    }

    private enum Key: String, CodingKey {
        case compatible, version, securityVersion, size, crc32, sha256
    }

    /// Each field decoded on its own, so the error names it.
    public init(from decoder: any Decoder) throws {
        let fields = try decoder.container(keyedBy: Key.self)
        func text(_ key: Key) throws -> String? {
            do { return try fields.decodeIfPresent(String.self, forKey: key) } catch {
                throw WireError("'\(key.rawValue)' must be a string")
            }
        }
        func number(_ key: Key) throws -> UInt64? {
            do { return try fields.decodeIfPresent(UInt64.self, forKey: key) } catch {
                throw WireError("'\(key.rawValue)' must be a non-negative integer")
            }
        }
        self.init(
            compatible: try text(.compatible), version: try text(.version), securityVersion: try number(.securityVersion),
            size: try number(.size), crc32: try text(.crc32), sha256: try text(.sha256))
    }

    /// Decodes and validates; the error names the field and what is wrong.
    public static func decode(_ bytes: [UInt8]) throws(WireError) -> ImageManifest {
        let manifest: ImageManifest
        do {
            manifest = try WireJSON.decoder().decode(ImageManifest.self, from: Data(bytes))
        } catch let error as WireError {
            throw error
        } catch {
            throw WireError("not a JSON object of manifest fields: \(error)")
        }
        try manifest.validate()
        return manifest
    }

    public func validate() throws(WireError) {
        if let compatible { try ManifestRules.text("compatible", compatible) }
        if let version { try ManifestRules.text("version", version) }
        if let crc32 { try ManifestRules.crc32(crc32) }
        if let sha256 { try ManifestRules.sha256(sha256) }
    }
}
