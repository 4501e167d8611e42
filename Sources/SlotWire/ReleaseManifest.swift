import FoundationEssentials

/// What a release is, as signed by the operator's Ed25519 key at `deploy`.
///
/// `size`, `crc32` and `sha256` describe the image as it lands in the slot
/// (after gzip is inflated); `payloadSize` is the number of bytes served, so a
/// device can cap both the download and the write before it starts.
public struct ReleaseManifest: Codable, Sendable, Equatable {
    public var compatible: String
    public var version: String
    public var securityVersion: UInt64
    public var size: UInt64
    public var crc32: String
    public var sha256: String
    public var compression: PayloadCompression
    public var payloadSize: UInt64

    public init(
        compatible: String, version: String, securityVersion: UInt64, size: UInt64,
        crc32: String, sha256: String, compression: PayloadCompression, payloadSize: UInt64
    ) {
        self.compatible = compatible
        self.version = version
        self.securityVersion = securityVersion
        self.size = size
        self.crc32 = crc32
        self.sha256 = sha256
        self.compression = compression
        self.payloadSize = payloadSize
    }

    /// The exact bytes the signature covers: one `key=value` line per field in
    /// a fixed order, so signer and verifier never depend on a JSON encoder.
    public var signingBytes: [UInt8] {
        let text = """
            slotctl-manifest-v1
            compatible=\(compatible)
            version=\(version)
            security-version=\(securityVersion)
            size=\(size)
            crc32=\(crc32.lowercased())
            sha256=\(sha256.lowercased())
            compression=\(compression.rawValue)
            payload-size=\(payloadSize)

            """
        return Array(text.utf8)
    }

    /// Checks the fields a device or server must be able to trust before
    /// signing or verifying: no control characters (they would forge extra
    /// lines in `signingBytes`), hex digests of the right length, sane sizes.
    public func validate() throws(WireError) {
        try ManifestRules.text("compatible", compatible)
        try ManifestRules.text("version", version)
        try ManifestRules.crc32(crc32)
        try ManifestRules.sha256(sha256)
        if compression == .none && payloadSize != size {
            throw WireError("an uncompressed payload must be as large as the image (\(payloadSize) != \(size))")
        }
    }
}

/// How the payload bytes on the wire relate to the image bytes in the slot.
public enum PayloadCompression: String, Codable, Sendable, CaseIterable {
    case none
    case gzip
}
