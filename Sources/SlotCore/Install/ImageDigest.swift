import Crypto

/// The checksums computed as an image streams through: CRC-32 always,
/// SHA-256 when a manifest names one.
public struct ImageDigest: Sendable {
    public private(set) var crc = CRC32()
    private var sha: SHA256?
    public private(set) var count: UInt64 = 0

    public init(sha256: Bool) {
        sha = sha256 ? SHA256() : nil
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        crc.update(bytes)
        sha?.update(bufferPointer: bytes)
        count += UInt64(bytes.count)
    }

    /// Lowercase hex SHA-256, nil when not computed.
    public func sha256Hex() -> String? {
        guard let sha else { return nil }
        return sha.finalize().map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
