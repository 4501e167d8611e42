import SlotCodec
/// The checksums computed as an image streams through: CRC-32 always,
/// SHA-256 when a manifest names one.
public struct ImageDigest {
    public private(set) var crc = CRC32()
    private var sha: (any StreamingSHA256)?
    public private(set) var count: UInt64 = 0

    public init(sha256: (any StreamingSHA256)?) {
        sha = sha256
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        crc.update(bytes)
        sha?.update(bytes)
        count += UInt64(bytes.count)
    }

    /// Lowercase hex SHA-256, nil when not computed.
    public func sha256Hex() -> String? {
        sha?.finalizeHex()
    }
}

/// SHA-256 fed incrementally. SlotCore links no crypto library, so the boot
/// hook (which never hashes) stays small and static; programs that install
/// images hand in the swift-crypto implementation from `SlotCrypto`.
public protocol StreamingSHA256 {
    mutating func update(_ bytes: UnsafeRawBufferPointer)
    /// Lowercase hex of the digest.
    func finalizeHex() -> String
}

/// Makes a fresh SHA-256 hasher, or nil where none was provided.
public typealias SHA256Factory = @Sendable () -> any StreamingSHA256
