import Crypto

/// The deterministic dice of a percentage rollout.
///
/// `bucket = first 8 bytes of SHA-256(key + ":" + clientId), big-endian, mod 10000`,
/// where the key is the release id (or the experiment id for A/B arms). The
/// same device gets the same bucket on every check, after a restart and on
/// every replica; Swift's `Hasher` is seeded per process and never used here.
public enum RolloutBucket {
    public static let count = 10_000

    public static func bucket(key: String, clientId: String) -> Int {
        // Runs for every release a check considers: the bytes go straight to the hash.
        var hash = SHA256()
        var key = key
        var clientId = clientId
        key.withUTF8 { hash.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        withUnsafeBytes(of: UInt8(ascii: ":")) { hash.update(bufferPointer: $0) }
        clientId.withUTF8 { hash.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        let value = hash.finalize().withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) }
        return Int(value % UInt64(count))
    }

    /// The bucket bound for a percentage: a device is in when `bucket < threshold`.
    /// Percentages have two decimals of resolution (0.01 % = one bucket).
    public static func threshold(percent: Double) -> Int {
        Int((min(max(percent, 0), 100) * 100).rounded())
    }

    public static func includes(percent: Double, key: String, clientId: String) -> Bool {
        bucket(key: key, clientId: clientId) < threshold(percent: percent)
    }
}
