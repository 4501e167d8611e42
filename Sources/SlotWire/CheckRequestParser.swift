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
        /// A string without escapes or control characters, as validated UTF-8.
        func string() -> String? {
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
            let text = UnsafeRawBufferPointer(rebasing: bytes[start..<i])
            // ASCII is valid UTF-8: decoding it skips the validator, as every usual id and version is.
            let value = ascii ? String(decoding: text, as: UTF8.self) : String(validating: text, as: UTF8.self)
            i += 1
            return value
        }

        var fields: [String?] = [nil, nil, nil, nil, nil]
        skipSpace()
        guard i < n, bytes[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        skipSpace()
        if i < n, bytes[i] == UInt8(ascii: "}") { return nil }
        while true {
            skipSpace()
            guard let key = string() else { return nil }
            skipSpace()
            guard i < n, bytes[i] == UInt8(ascii: ":") else { return nil }
            i += 1
            skipSpace()
            guard let value = string() else { return nil }
            let index: Int? =
                switch key {
                case "clientId": 0
                case "compatible": 1
                case "channel": 2
                case "version": 3
                case "slot": 4
                default: nil
                }
            if let index {
                if fields[index] != nil { return nil }
                fields[index] = value
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
        guard i == n, let clientId = fields[0], let compatible = fields[1], let channel = fields[2],
            let version = fields[3], let slot = fields[4]
        else { return nil }
        return CheckRequest(clientId: clientId, compatible: compatible, channel: channel, version: version, slot: slot)
    }
}
