import FoundationEssentials

/// The server's answer to "is there an update for me?": the signed manifest
/// plus where to fetch the payload and the detached signature.
public struct Release: Codable, Sendable, Equatable {
    public var id: String
    public var compatible: String
    public var version: String
    public var securityVersion: UInt64
    public var size: UInt64
    public var crc32: String
    public var sha256: String
    public var url: String
    public var compression: PayloadCompression
    public var payloadSize: UInt64
    /// Base64 Ed25519 signature over `manifest.signingBytes`.
    public var signature: String
    /// The chunk index for delta downloads, when the release has one.
    public var index: ChunkIndexReference?

    public init(id: String, manifest: ReleaseManifest, url: String, signature: String, index: ChunkIndexReference? = nil) {
        self.id = id
        self.compatible = manifest.compatible
        self.version = manifest.version
        self.securityVersion = manifest.securityVersion
        self.size = manifest.size
        self.crc32 = manifest.crc32
        self.sha256 = manifest.sha256
        self.url = url
        self.compression = manifest.compression
        self.payloadSize = manifest.payloadSize
        self.signature = signature
        self.index = index
    }

    /// The part of the release the signature covers.
    public var manifest: ReleaseManifest {
        ReleaseManifest(
            compatible: compatible, version: version, securityVersion: securityVersion, size: size,
            crc32: crc32, sha256: sha256, compression: compression, payloadSize: payloadSize)
    }
}
