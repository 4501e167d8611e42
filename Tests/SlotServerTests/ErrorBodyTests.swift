import Foundation
import SlotWire
import Testing

/// Refusals are written without JSONEncoder (a flood of forged requests is
/// answered one refusal each); the bytes must be the ones JSONEncoder writes.
@Suite("Error bodies")
struct ErrorBodyTests {
    @Test("APIErrorBody.json is byte for byte what WireJSON's encoder writes, whatever the message holds")
    func sameBytesAsJSONEncoder() throws {
        var everyASCII = ""
        for byte in 0..<0x80 { everyASCII.unicodeScalars.append(Unicode.Scalar(UInt8(byte))) }
        let messages = [
            "", "plain", everyASCII, #"quote " and backslash \ and slash /"#, "tab\tnewline\ncr\r",
            "\u{80}\u{a0}\u{2028}\u{2029}\u{feff} é 😀", "the request speaks for client \"x\\y\" but is signed by z",
            String(repeating: "\u{1f}", count: 40),
        ]
        for message in messages {
            for code in ["unauthorized", "rate-limited", "a\"b"] {
                let body = APIErrorBody(code: code, message: message)
                let expected = Array(try WireJSON.encoder().encode(body))
                #expect(body.json == expected, "\(code) \(message.debugDescription)")
                #expect(try WireJSON.decoder().decode(APIErrorBody.self, from: Data(body.json)) == body)
            }
        }
    }
}
