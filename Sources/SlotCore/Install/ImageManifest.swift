import FoundationEssentials

/// What an image claims to be, from `install --manifest FILE` (the same JSON
/// as a release manifest; unknown fields are ignored). Every field that is
/// present is checked; absent ones are not.
public struct ImageManifest: Sendable, Equatable, Decodable {
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

    public static func load(path: String) throws(SlotError) -> ImageManifest {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path, limit: 64 * 1024)
        } catch {
            throw SlotError(.badManifest, "cannot read manifest '\(path)'", cause: error.cause)
        }
        let manifest: ImageManifest
        do {
            manifest = try JSONDecoder().decode(ImageManifest.self, from: Data(bytes))
        } catch {
            throw SlotError(.badManifest, "manifest '\(path)' is not valid JSON of the expected shape: \(error)")
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
