import SlotCodec
/// The on-disk form of one state copy.
///
/// ```
/// offset  size  field
///      0     8  magic "SLOTSTAT"
///      8     4  format version (1), little-endian
///     12     8  sequence number, little-endian
///     20     4  payload length, little-endian
///     24     n  payload: UTF-8 "key=value" lines
///   24+n     4  CRC-32 (zlib) of bytes 0..<24+n, little-endian
/// ```
/// The file must be exactly 28+n bytes. Values are percent-escaped for `%`,
/// CR and LF so a detail can never forge a line.
public enum StateCodec {
    public static let magic: [UInt8] = Array("SLOTSTAT".utf8)
    public static let formatVersion: UInt32 = 1
    public static let headerSize = 24
    public static let maxPayload = 256 * 1024

    public static func encode(_ state: SystemState) -> [UInt8] {
        var lines: [String] = []
        lines.append("security-version=\(state.securityVersion)")
        lines.append("recovery-once=\(state.recoveryOnce ? 1 : 0)")
        if state.projectionPending { lines.append("projection-pending=1") }
        if let booted = state.booted {
            lines.append("booted=\(booted.slot.rawValue)")
            lines.append("booted-seq=\(booted.seq)")
        }
        for name in SlotName.allCases {
            let record = state[name]
            let prefix = "slot.\(name.rawValue)."
            lines.append(prefix + "status=\(record.status.rawValue)")
            lines.append(prefix + "priority=\(record.priority)")
            lines.append(prefix + "tries=\(record.tries)")
            lines.append(prefix + "boots=\(record.boots)")
            if let version = record.version { lines.append(prefix + "version=" + escape(version)) }
            if let release = record.release { lines.append(prefix + "release=" + escape(release)) }
            if let size = record.size { lines.append(prefix + "size=\(size)") }
            if let crc = record.crc32 { lines.append(prefix + "crc32=" + CRC32.hex(crc)) }
            if let sha = record.sha256 { lines.append(prefix + "sha256=" + sha) }
            if let fstype = record.fstype { lines.append(prefix + "fstype=" + escape(fstype)) }
            if let installed = record.installed { lines.append(prefix + "installed=\(installed)") }
            if let reason = record.badReason { lines.append(prefix + "bad-reason=" + escape(reason)) }
        }
        for event in state.events {
            lines.append("event=\(event.seq) \(event.type.rawValue) \(event.slot?.rawValue ?? "-") \(event.at) \(escape(event.detail))")
        }
        let payload = Array((lines.joined(separator: "\n") + "\n").utf8)

        var bytes = magic
        bytes.reserveCapacity(headerSize + payload.count + 4)
        append(&bytes, formatVersion)
        append(&bytes, state.seq)
        append(&bytes, UInt32(payload.count))
        bytes += payload
        append(&bytes, CRC32.checksum(bytes))
        return bytes
    }

    /// Why a copy was rejected; shown by `status` and recorded at boot.
    public struct DecodeError: Error, Sendable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> SystemState {
        guard bytes.count >= headerSize + 4 else {
            throw DecodeError(reason: "truncated: \(bytes.count) bytes, shorter than a header")
        }
        guard Array(bytes[0..<8]) == magic else { throw DecodeError(reason: "bad magic") }
        let version: UInt32 = read(bytes, at: 8)
        guard version == formatVersion else { throw DecodeError(reason: "unsupported format version \(version)") }
        let seq: UInt64 = read(bytes, at: 12)
        let length = Int(read(bytes, at: 20) as UInt32)
        guard length <= maxPayload else { throw DecodeError(reason: "payload length \(length) is absurd") }
        guard bytes.count == headerSize + length + 4 else {
            throw DecodeError(reason: "length mismatch: header says \(headerSize + length + 4) bytes, file has \(bytes.count)")
        }
        let stored: UInt32 = read(bytes, at: headerSize + length)
        let computed = CRC32.checksum(Array(bytes[0..<(headerSize + length)]))
        guard stored == computed else {
            throw DecodeError(reason: "CRC mismatch (stored \(CRC32.hex(stored)), computed \(CRC32.hex(computed)))")
        }
        let payload = bytes[headerSize..<(headerSize + length)]
        guard String(validating: payload, as: UTF8.self) != nil else {
            throw DecodeError(reason: "payload is not UTF-8")
        }
        var state = SystemState()
        state.seq = seq
        var bootedSlot: SlotName?
        var bootedSeq: UInt64?
        // Split on the bytes, not on Characters: the separators are ASCII and
        // grapheme breaking made decoding the dearest part of `mark-good`.
        for line in payload.split(separator: UInt8(ascii: "\n")) {
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else {
                throw DecodeError(reason: "malformed line '\(String(decoding: line, as: UTF8.self))'")
            }
            let key = String(decoding: line[..<equals], as: UTF8.self)
            let value = String(decoding: line[(equals + 1)...], as: UTF8.self)
            switch key {
            case "security-version": state.securityVersion = try number(value, key)
            case "recovery-once": state.recoveryOnce = try number(value, key) as UInt64 != 0
            case "projection-pending": state.projectionPending = try number(value, key) as UInt64 != 0
            case "booted":
                guard let slot = SlotName(rawValue: value) else { throw DecodeError(reason: "bad booted slot '\(value)'") }
                bootedSlot = slot
            case "booted-seq": bootedSeq = try number(value, key)
            case "event": state.events.append(try event(value))
            default:
                if key.hasPrefix("slot.") {
                    try slotField(key, value, into: &state)
                }
                // Unknown global keys are ignored: they come from a newer minor revision.
            }
        }
        if let bootedSlot, let bootedSeq { state.booted = .init(slot: bootedSlot, seq: bootedSeq) }
        return state
    }

    private static func slotField(_ key: String, _ value: String, into state: inout SystemState) throws(DecodeError) {
        let parts = key.utf8.split(separator: UInt8(ascii: "."), maxSplits: 2).map { String(decoding: $0, as: UTF8.self) }
        guard parts.count == 3, let slot = SlotName(rawValue: parts[1]) else {
            throw DecodeError(reason: "bad slot key '\(key)'")
        }
        var record = state[slot]
        switch parts[2] {
        case "status":
            guard let status = SlotStatus(rawValue: value) else { throw DecodeError(reason: "bad status '\(value)'") }
            record.status = status
        case "priority": record.priority = Int(try number(value, key) as UInt64)
        case "tries": record.tries = Int(try number(value, key) as UInt64)
        case "boots": record.boots = try number(value, key)
        case "version": record.version = unescape(value)
        case "release": record.release = unescape(value)
        case "size": record.size = try number(value, key)
        case "crc32":
            guard let crc = CRC32.parse(value) else { throw DecodeError(reason: "bad crc32 '\(value)'") }
            record.crc32 = crc
        case "sha256": record.sha256 = value
        case "fstype": record.fstype = unescape(value)
        case "installed": record.installed = Int64(try number(value, key) as UInt64)
        case "bad-reason": record.badReason = unescape(value)
        default: break
        }
        state[slot] = record
    }

    private static func event(_ value: String) throws(DecodeError) -> StateEvent {
        let fields = value.utf8.split(separator: UInt8(ascii: " "), maxSplits: 4, omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        guard fields.count == 5, let seq = UInt64(fields[0]), let type = StateEvent.Kind(rawValue: fields[1]),
            let at = Int64(fields[3])
        else { throw DecodeError(reason: "malformed event '\(value)'") }
        let slot: SlotName?
        if fields[2] == "-" {
            slot = nil
        } else if let named = SlotName(rawValue: fields[2]) {
            slot = named
        } else {
            throw DecodeError(reason: "malformed event slot '\(fields[2])'")
        }
        return StateEvent(seq: seq, type: type, slot: slot, detail: unescape(fields[4]), at: at)
    }

    private static func number(_ value: String, _ key: some StringProtocol) throws(DecodeError) -> UInt64 {
        guard let number = UInt64(value) else { throw DecodeError(reason: "\(key): not a number '\(value)'") }
        return number
    }

    static func escape(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "%": result += "%25"
            case "\n": result += "%0A"
            case "\r": result += "%0D"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// One pass, so an escaped `%25` followed by `0A` stays `%0A` text.
    static func unescape(_ text: String) -> String {
        guard text.utf8.contains(UInt8(ascii: "%")) else { return text }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var rest = text.utf8[...]
        while let byte = rest.popFirst() {
            if byte == UInt8(ascii: "%"), rest.count >= 2 {
                let code = (rest[rest.startIndex], rest[rest.index(after: rest.startIndex)])
                let decoded: UInt8? = switch code {
                case (UInt8(ascii: "0"), UInt8(ascii: "A")): UInt8(ascii: "\n")
                case (UInt8(ascii: "0"), UInt8(ascii: "D")): UInt8(ascii: "\r")
                case (UInt8(ascii: "2"), UInt8(ascii: "5")): UInt8(ascii: "%")
                default: nil
                }
                if let decoded {
                    bytes.append(decoded)
                    rest.removeFirst(2)
                    continue
                }
            }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func append<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func read<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int) -> T {
        var value: T = 0
        for index in (0..<MemoryLayout<T>.size).reversed() {
            value = value << 8 | T(bytes[offset + index])
        }
        return value
    }
}
