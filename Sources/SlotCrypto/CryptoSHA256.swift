import Crypto
import SlotCodec
import SlotCore

/// swift-crypto's SHA-256 (BoringSSL, with the CPU's SHA extensions) as the
/// image writer's hasher.
public struct CryptoSHA256: StreamingSHA256 {
    private var hasher = SHA256()

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
    }

    public func finalizeHex() -> String {
        Hex.string(hasher.finalize())
    }

    /// The factory to pass to ``SlotManager``.
    public static let factory: SHA256Factory = { CryptoSHA256() }
}
