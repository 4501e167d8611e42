import CZlib

/// zlib's CRC-32 (the one `cksum -a crc32b`, Python's `zlib.crc32` and the
/// device's slot writer use), fed incrementally.
public struct CRC32: Sendable {
    public private(set) var value: UInt32 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var rest = bytes
        while !rest.isEmpty {
            let n = min(rest.count, Int(UInt32.max))
            let base = rest.baseAddress!.assumingMemoryBound(to: Bytef.self)
            value = UInt32(truncatingIfNeeded: crc32(uLong(value), base, uInt(n)))
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
        }
    }

    /// Lowercase, 8 hex digits: the manifest's spelling.
    public var hex: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }
}
