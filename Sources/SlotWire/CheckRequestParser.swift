/// A fast path for the one body every device sends all the time: a flat JSON
/// object of plain strings. Anything else (escapes, other value types, unknown
/// nested fields, duplicates, missing fields, invalid UTF-8) returns nil and
/// goes through `JSONDecoder`, which then also produces the error message.
/// So the answer is always what `JSONDecoder` would give, only cheaper.
public enum CheckRequestParser {
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> CheckRequest? {
        var i = 0
        let n = bytes.count
        @inline(__always) func skipSpace() {
            while i < n, bytes[i] == 0x20 || bytes[i] == 0x0a || bytes[i] == 0x0d || bytes[i] == 0x09 { i += 1 }
        }
        /// The bytes of a string without escapes or control characters, and whether they are ASCII.
        func span() -> (text: UnsafeRawBufferPointer, ascii: Bool)? {
            guard i < n, bytes[i] == UInt8(ascii: "\"") else { return nil }
            i += 1
            let start = i
            var ascii = true
            while i < n {
                let byte = bytes[i]
                if byte == UInt8(ascii: "\"") { break }
                if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
                ascii = ascii && byte < 0x80
                i += 1
            }
            guard i < n else { return nil }
            defer { i += 1 }
            return (UnsafeRawBufferPointer(rebasing: bytes[start..<i]), ascii)
        }
        /// The same as validated UTF-8; ASCII is valid UTF-8, so decoding it
        /// skips the validator, as every usual id and version does.
        func string() -> String? {
            guard let (text, ascii) = span() else { return nil }
            return ascii ? String(decoding: text, as: UTF8.self) : String(validating: text, as: UTF8.self)
        }
        /// Which field a key names, from its bytes (no String made for it).
        func field(_ key: UnsafeRawBufferPointer) -> Int? {
            func named(_ name: StaticString) -> Bool { equalsASCII(key, name, ignoringCase: false) }
            switch key.count {
            case 8 where named("clientId"): return 0
            case 10 where named("compatible"): return 1
            case 7 where named("channel"): return 2
            case 7 where named("version"): return 3
            case 4 where named("slot"): return 4
            default: return nil
            }
        }

        var clientId: String?
        var compatible: String?
        var channel: String?
        var version: String?
        var slot: String?
        skipSpace()
        guard i < n, bytes[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        skipSpace()
        if i < n, bytes[i] == UInt8(ascii: "}") { return nil }
        while true {
            skipSpace()
            guard let (key, asciiKey) = span() else { return nil }
            // Another key need not be read, but must be valid UTF-8 for JSONDecoder too.
            if !asciiKey, String(validating: key, as: UTF8.self) == nil { return nil }
            skipSpace()
            guard i < n, bytes[i] == UInt8(ascii: ":") else { return nil }
            i += 1
            skipSpace()
            guard let value = string() else { return nil }
            switch field(key) {
            case 0: guard clientId == nil else { return nil }; clientId = value
            case 1: guard compatible == nil else { return nil }; compatible = value
            case 2: guard channel == nil else { return nil }; channel = value
            case 3: guard version == nil else { return nil }; version = value
            case 4: guard slot == nil else { return nil }; slot = value
            default: break
            }
            skipSpace()
            guard i < n else { return nil }
            if bytes[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            guard bytes[i] == UInt8(ascii: "}") else { return nil }
            i += 1
            break
        }
        skipSpace()
        guard i == n, let clientId, let compatible, let channel, let version, let slot else { return nil }
        return CheckRequest(clientId: clientId, compatible: compatible, channel: channel, version: version, slot: slot)
    }
}
