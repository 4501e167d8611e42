import SlotCodec
/// What an image claims to be, from `install --manifest FILE` (the same JSON
/// as a release manifest; unknown fields are ignored). Every field that is
/// present is checked; absent ones are not.
public struct ImageManifest: Sendable, Equatable {
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

    /// Parses the manifest JSON; a field of the wrong type is an error.
    public init(json bytes: [UInt8]) throws(SlotError) {
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            throw SlotError(.badManifest, "not valid JSON: \(error)")
        }
        guard case .object = root else { throw SlotError(.badManifest, "expected a JSON object") }
        func string(_ key: String) throws(SlotError) -> String? {
            guard let value = root[key], value != .null else { return nil }
            guard let text = value.stringValue else { throw SlotError(.badManifest, "'\(key)' must be a string") }
            return text
        }
        func number(_ key: String) throws(SlotError) -> UInt64? {
            guard let value = root[key], value != .null else { return nil }
            guard let number = value.uint64Value else { throw SlotError(.badManifest, "'\(key)' must be a non-negative integer") }
            return number
        }
        self.init(
            compatible: try string("compatible"), version: try string("version"),
            securityVersion: try number("securityVersion"), size: try number("size"),
            crc32: try string("crc32"), sha256: try string("sha256"))
    }

    public static func load(path: String) throws(SlotError) -> ImageManifest {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path, limit: 64 * 1024)
        } catch {
            throw SlotError(.badManifest, "cannot read manifest '\(path)'", cause: error.cause)
        }
        let manifest: ImageManifest
        do throws(SlotError) {
            manifest = try ImageManifest(json: bytes)
        } catch {
            throw SlotError(.badManifest, "manifest '\(path)': \(error.message)")
        }
        if let crc = manifest.crc32, CRC32.parse(crc) == nil {
            throw SlotError(.badManifest, "manifest '\(path)': crc32 must be 8 hex digits, got '\(crc)'")
        }
        if let sha = manifest.sha256, sha.count != 64 || !sha.allSatisfy(\.isHexDigit) {
            throw SlotError(.badManifest, "manifest '\(path)': sha256 must be 64 hex digits")
        }
        return manifest
    }
}
