/// What a hawkBit DDI feedback body says about its action: the part of
/// SWUpdate's suricatta reports the server acts on.
public struct DDIFeedback: Sendable, Equatable {
    /// `proceeding`, `closed`, `canceled`, `scheduled`, `rejected`, `resumed`.
    public var execution: String
    /// `success`, `failure` or `none`.
    public var finished: String?

    public init(execution: String, finished: String?) {
        self.execution = execution
        self.finished = finished
    }

    /// Reads `status.execution` and `status.result.finished`. suricatta
    /// builds the body with printf, so `details` may hold raw control
    /// characters and unescaped quotes that a JSON decoder refuses: the two
    /// fields are found by their keys, and the rest is ignored. nil without
    /// an `execution`.
    public static func parse(_ body: [UInt8]) -> DDIFeedback? {
        guard let execution = stringValue(of: "execution", in: body) else { return nil }
        return DDIFeedback(execution: execution, finished: stringValue(of: "finished", in: body))
    }

    /// The string after the first `"key"` that a colon follows. Values are
    /// short words: at most 32 bytes of printable ASCII, no escapes; anything
    /// else is nil.
    static func stringValue(of key: String, in body: [UInt8]) -> String? {
        let needle = Array("\"\(key)\"".utf8)
        func skipSpace(_ i: inout Int) {
            while i < body.count, body[i] == 0x20 || body[i] == 0x09 || body[i] == 0x0a || body[i] == 0x0d { i += 1 }
        }
        var index = 0
        while index + needle.count <= body.count {
            defer { index += 1 }
            guard body[index..<index + needle.count].elementsEqual(needle) else { continue }
            var cursor = index + needle.count
            skipSpace(&cursor)
            guard cursor < body.count, body[cursor] == UInt8(ascii: ":") else { continue }
            cursor += 1
            skipSpace(&cursor)
            guard cursor < body.count, body[cursor] == UInt8(ascii: "\"") else { return nil }
            let start = cursor + 1
            guard let end = body[start...].firstIndex(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 < 0x20 || $0 > 0x7e }),
                body[end] == UInt8(ascii: "\""), end - start <= 32
            else { return nil }
            return String(decoding: body[start..<end], as: UTF8.self)
        }
        return nil
    }
}
