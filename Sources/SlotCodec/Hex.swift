/// Lowercase hex, the spelling of every digest and checksum slotctl prints,
/// stores or signs.
public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Two digits per byte: digests (SHA-256), tokens.
    public static func string<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A number as exactly `digits` hex digits, zero-padded (CRC-32: 8).
    public static func fixedWidth(_ value: UInt64, digits count: Int) -> String {
        var out = [UInt8](repeating: UInt8(ascii: "0"), count: count)
        var rest = value
        var index = count - 1
        while rest != 0 && index >= 0 {
            out[index] = digits[Int(rest & 0xf)]
            rest >>= 4
            index -= 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `text` is exactly `count` hex digits (either case).
    public static func isDigits(_ text: String, count: Int) -> Bool {
        text.utf8.count == count && text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
        }
    }
}
