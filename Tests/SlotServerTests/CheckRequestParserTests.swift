import Foundation
import SlotServer
import SlotWire
import Testing

/// The check fast path must agree with JSONDecoder on everything it accepts,
/// and hand everything unusual to JSONDecoder.
@Suite("Check request fast path")
struct CheckRequestParserTests {
    static let plain = CheckRequest(clientId: "gw-0001", compatible: "acme-gw", channel: "stable", version: "1.0.0", slot: "B")

    func fast(_ text: String) -> CheckRequest? {
        Array(text.utf8).withUnsafeBytes { CheckRequestParser.parse($0) }
    }

    func decoded(_ text: String) -> CheckRequest? {
        try? WireJSON.decoder().decode(CheckRequest.self, from: Data(text.utf8))
    }

    @Test("the wire encoding and hand-written variants take the fast path")
    func acceptsPlainObjects() throws {
        let encoded = String(decoding: try WireJSON.encoder().encode(Self.plain), as: UTF8.self)
        #expect(fast(encoded) == Self.plain)
        let spaced = " {\n \"slot\" : \"B\", \"version\":\"1.0.0\",\t\"channel\":\"stable\",\"compatible\":\"acme-gw\",\"clientId\":\"gw-0001\" , \"extra\":\"ignored\"}\r\n"
        #expect(fast(spaced) == Self.plain)
        #expect(fast(#"{"clientId":"g\#u{00e9}-\#u{1F600}","compatible":"a","channel":"c","version":"","slot":"A"}"#)?.clientId == "g\u{e9}-\u{1F600}")
    }

    @Test("anything unusual falls back; whatever is accepted equals JSONDecoder's result", arguments: [
        #"{"clientId":"a\"b","compatible":"x","channel":"c","version":"1","slot":"A"}"#,
        #"{"clientId":"a\u0041","compatible":"x","channel":"c","version":"1","slot":"A"}"#,
        #"{"clientId":5,"compatible":"x","channel":"c","version":"1","slot":"A"}"#,
        #"{"clientId":"a","compatible":"x","channel":"c","version":"1","slot":"A","n":{"deep":[1,2]}}"#,
        #"{"clientId":"a","clientId":"b","compatible":"x","channel":"c","version":"1","slot":"A"}"#,
        #"{"compatible":"x","channel":"c","version":"1","slot":"A"}"#,
        #"{"clientId":"a","compatible":"x","channel":"c","version":"1","slot":"A"} trailing"#,
        #"{"clientId":"a","compatible":"x","channel":"c","version":"1","slot":"A",}"#,
        #"[{"clientId":"a"}]"#, "", "{", "{}", "null", #"{"clientId":"a"#,
        #"{"clientId":"a","compatible":null,"channel":"c","version":"1","slot":"A"}"#,
    ])
    func fallsBack(body: String) {
        let result = fast(body)
        if let result { #expect(result == decoded(body)) }
        #expect(result == nil)
    }

    @Test("invalid UTF-8 and raw control characters fall back")
    func invalidBytes() {
        var bytes = Array(#"{"clientId":"ab","compatible":"x","channel":"c","version":"1","slot":"A"}"#.utf8)
        bytes[13] = 0xff
        #expect(bytes.withUnsafeBytes { CheckRequestParser.parse($0) } == nil)
        bytes[13] = 0x01
        #expect(bytes.withUnsafeBytes { CheckRequestParser.parse($0) } == nil)
    }
}
