/// Lowercase hex, the spelling of every digest and checksum slotctl prints,
/// stores or signs.
public enum Hex {
    /// The lowercase digit of a value 0...15. Inlinable, with what uses it:
    /// hex runs on every signed request, and across modules a generic call is slow.
    @inlinable
    public static func digit(_ value: UInt8) -> UInt8 {
        value < 10 ? 0x30 + value : 0x57 + value
    }

    /// Two digits per byte: digests (SHA-256), tokens.
    @inlinable
    public static func string<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(bytes.underestimatedCount * 2)
        append(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The digits of `bytes`, appended to a message being built.
    @inlinable
    public static func append<Bytes: Sequence>(_ bytes: Bytes, to out: inout [UInt8]) where Bytes.Element == UInt8 {
        for byte in bytes {
            out.append(digit(byte >> 4))
            out.append(digit(byte & 0x0f))
        }
    }

    /// A number as exactly `digits` hex digits, zero-padded (CRC-32: 8).
    public static func fixedWidth(_ value: UInt64, digits count: Int) -> String {
        var out = [UInt8](repeating: UInt8(ascii: "0"), count: count)
        var rest = value
        var index = count - 1
        while rest != 0 && index >= 0 {
            out[index] = digit(UInt8(rest & 0xf))
            rest >>= 4
            index -= 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `text` is exactly `count` hex digits (either case).
    @inlinable
    public static func isDigits<Text: StringProtocol>(_ text: Text, count: Int) -> Bool {
        text.utf8.count == count && text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
        }
    }

    /// The bytes `text` spells (either case, two digits a byte); nil for anything else.
    public static func bytes(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { bytes($0) }
    }

    private static func bytes(_ utf8: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = value(utf8[index]), let low = value(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    /// The value of one hex digit (either case).
    @inlinable
    public static func value(_ digit: UInt8) -> UInt8? {
        switch digit {
        case 0x30...0x39: digit - 0x30
        case 0x41...0x46: digit - 0x41 + 10
        case 0x61...0x66: digit - 0x61 + 10
        default: nil
        }
    }
}
