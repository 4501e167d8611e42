/// The head of a `POST /v1/check`, read straight from the connection's bytes
/// by the server's check fast path, which answers it without NIO's HTTP codec
/// (the codec costs more than the rest of a check).
///
/// It accepts a strict subset of HTTP/1.1 (RFC 9112) and nothing it would
/// frame or read differently from NIO's parser: the exact request line
/// `POST /v1/check HTTP/1.1`, header names that are tokens, values of visible
/// ASCII, spaces and tabs without trailing blanks, CRLF line ends, one `Content-Length` of digits and
/// one `Host`. `Transfer-Encoding`, `Expect`, `Upgrade`, a `Connection` other
/// than `keep-alive`, a repeated `Slot-*` field, a bare CR or LF, folded lines,
/// any other byte: ``Framing/other``, and the caller hands the bytes to the
/// full parser, which answers them (errors included) as it always would.
/// Untrusted input: fuzzed (Fuzz/README.md).
public struct CheckRequestHead: Sendable, Equatable {
    /// The head's bytes, through the empty line.
    public var headLength: Int
    /// `Content-Length`.
    public var bodyLength: Int
    public var host: String?
    /// The `Slot-*` device credentials (``DeviceAuth``), as sent.
    public var device: String?
    public var time: String?
    public var session: String?
    public var mac: String?
    public var signature: String?

    public enum Framing: Sendable, Equatable {
        /// A whole check: the head, then `bodyLength` bytes of body, are in the input.
        case complete(CheckRequestHead)
        /// A prefix of one that this parser would take: wait for more bytes.
        case incomplete
        /// Something else: the full HTTP parser's business.
        case other
    }

    static let requestLine = Array("POST /v1/check HTTP/1.1\r\n".utf8)

    /// Reads the request at the start of `bytes`. A head longer than
    /// `maxHead`, or a body longer than `maxBody`, is ``Framing/other`` (the
    /// full parser refuses it with its own status).
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxHead: Int = 8192, maxBody: Int) -> Framing {
        let n = bytes.count
        let line = requestLine
        for k in 0..<min(n, line.count) where bytes[k] != line[k] { return .other }
        if n < line.count { return .incomplete }

        var head = CheckRequestHead(headLength: 0, bodyLength: -1)
        var hostSeen = false
        var i = line.count
        while true {
            if i >= maxHead { return .other }
            // The empty line ends the head.
            if i < n, bytes[i] == 0x0d {
                guard i + 1 < n else { return .incomplete }
                guard bytes[i + 1] == 0x0a else { return .other }
                head.headLength = i + 2
                break
            }
            // name ":" OWS value OWS CRLF
            let nameStart = i
            while i < n, isTokenByte(bytes[i]) { i += 1 }
            if i == n { return .incomplete }
            guard bytes[i] == UInt8(ascii: ":"), i > nameStart else { return .other }
            let nameEnd = i
            i += 1
            while i < n, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 }
            let valueStart = i
            while i < n, isValueByte(bytes[i]) { i += 1 }
            if i == n { return .incomplete }
            guard bytes[i] == 0x0d else { return .other }
            guard i + 1 < n else { return .incomplete }
            guard bytes[i + 1] == 0x0a else { return .other }
            // Trailing blanks: NIO keeps them in the value, and refuses them after a length.
            let valueEnd = i
            if valueEnd > valueStart, bytes[valueEnd - 1] == 0x20 || bytes[valueEnd - 1] == 0x09 { return .other }
            i += 2
            if i >= maxHead { return .other }

            let name = UnsafeRawBufferPointer(rebasing: bytes[nameStart..<nameEnd])
            let value = UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd])
            switch Field(name) {
            case .contentLength:
                guard head.bodyLength < 0, !value.isEmpty, value.count <= 9, value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return .other }
                head.bodyLength = value.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            case .host:
                guard !hostSeen else { return .other }
                hostSeen = true
                head.host = String(decoding: value, as: UTF8.self)
            case .connection:
                guard equalsLowercased(value, "keep-alive") else { return .other }
            case .refused:
                return .other
            case .device: guard set(&head.device, value) else { return .other }
            case .time: guard set(&head.time, value) else { return .other }
            case .session: guard set(&head.session, value) else { return .other }
            case .mac: guard set(&head.mac, value) else { return .other }
            case .signature: guard set(&head.signature, value) else { return .other }
            case .ignored: break
            }
        }
        // A POST without a length, or with one over the limit: the full parser answers it.
        guard head.bodyLength >= 0, head.bodyLength <= maxBody, hostSeen else { return .other }
        return n - head.headLength >= head.bodyLength ? .complete(head) : .incomplete
    }

    private enum Field {
        case contentLength, host, connection, refused, device, time, session, mac, signature, ignored

        init(_ name: UnsafeRawBufferPointer) {
            func named(_ text: StaticString) -> Bool { equalsLowercased(name, text) }
            switch name.count {
            case 4 where named("host"): self = .host
            case 14 where named("content-length"): self = .contentLength
            case 10 where named("connection"): self = .connection
            // Framing and protocol switches the fast path does not do.
            case 17 where named("transfer-encoding"), 6 where named("expect"), 7 where named("upgrade"), 2 where named("te"),
                7 where named("trailer"):
                self = .refused
            case 11 where named("slot-device"): self = .device
            case 9 where named("slot-time"): self = .time
            case 12 where named("slot-session"): self = .session
            case 8 where named("slot-mac"): self = .mac
            case 14 where named("slot-signature"): self = .signature
            default: self = .ignored
            }
        }
    }

    private static func set(_ field: inout String?, _ value: UnsafeRawBufferPointer) -> Bool {
        guard field == nil else { return false }
        field = String(decoding: value, as: UTF8.self)
        return true
    }
}

/// RFC 9110 `tchar`.
@inline(__always)
private func isTokenByte(_ b: UInt8) -> Bool {
    switch b {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
        UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
        UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
        true
    default: false
    }
}

/// Visible ASCII, space and tab: no obs-text, no control bytes.
@inline(__always)
private func isValueByte(_ b: UInt8) -> Bool {
    (b >= 0x20 && b < 0x7f) || b == 0x09
}

/// `bytes` equals the lowercase ASCII `text`, ignoring the case of `bytes`.
private func equalsLowercased(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
    equalsASCII(bytes, text, ignoringCase: true)
}

/// `bytes` spell the ASCII `text` (with `ignoringCase`, `text` lowercase and
/// `bytes` in any case): names the hand-written parsers match without making
/// a String of them.
func equalsASCII(_ bytes: UnsafeRawBufferPointer, _ text: StaticString, ignoringCase: Bool) -> Bool {
    guard bytes.count == text.utf8CodeUnitCount else { return false }
    let expected = text.utf8Start
    for i in 0..<bytes.count {
        let b = bytes[i]
        if (ignoringCase && b >= 0x41 && b <= 0x5a ? b | 0x20 : b) != expected[i] { return false }
    }
    return true
}
