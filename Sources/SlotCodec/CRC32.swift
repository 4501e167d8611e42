import CZlib

/// The standard (zlib, IEEE) CRC-32, fed incrementally: the one in the state
/// copies, manifests, `cksum -a crc32b` and Python's `zlib.crc32`. Uses
/// `crc32_z`, whose length is a `size_t` (the classic `crc32` takes 32 bits).
public struct CRC32: Sendable, Equatable {
    public private(set) var value: UInt32 = 0

    public init() {}

    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        value = UInt32(crc32_z(UInt(value), base.assumingMemoryBound(to: UInt8.self), buffer.count))
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }

    /// Lowercase, eight hex digits: the form used in state, JSON and manifests.
    public var hex: String { Self.hex(value) }

    public static func hex(_ value: UInt32) -> String {
        Hex.fixedWidth(UInt64(value), digits: 8)
    }

    /// Parses eight (or fewer) hex digits, with an optional `0x`.
    public static func parse(_ text: String) -> UInt32? {
        var digits = Substring(text.lowercased())
        if digits.hasPrefix("0x") { digits = digits.dropFirst(2) }
        guard !digits.isEmpty, digits.count <= 8 else { return nil }
        return UInt32(digits, radix: 16)
    }
}
