import NIOCore
import NIOEmbedded
import NIOHTTP1
import SlotWire
import Testing

/// The check fast path reads requests from the connection's bytes: it must
/// take only what NIO's full HTTP/1 parser frames the same way, with the same
/// fields, and hand everything else over.
@Suite("Check request head")
struct CheckRequestHeadTests {
    static let body = #"{"clientId":"gw-1","compatible":"acme-gw","channel":"stable","version":"1.0","slot":"A"}"#
    /// What libcurl (the device's HTTP stack) sends, with the device's signature fields.
    static let curlLike =
        "POST /v1/check HTTP/1.1\r\nHost: updates.example:8080\r\nUser-Agent: slotctl/1.0\r\nAccept: */*\r\n"
        + "Content-Type: application/json\r\nSlot-Device: gw-1\r\nSlot-Time: 1764000000000\r\nSlot-Session: 17640~abc\r\n"
        + "Slot-MAC: q83v\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"

    func parse(_ text: String, maxBody: Int = 4096) -> CheckRequestHead.Framing {
        parse(Array(text.utf8), maxBody: maxBody)
    }

    func parse(_ bytes: [UInt8], maxBody: Int = 4096) -> CheckRequestHead.Framing {
        bytes.withUnsafeBytes { CheckRequestHead.parse($0, maxBody: maxBody) }
    }

    @Test("a device's check is read whole, with its host and credentials")
    func readsACheck() throws {
        guard case .complete(let head) = parse(Self.curlLike) else { Issue.record("not complete"); return }
        #expect(head.headLength + head.bodyLength == Self.curlLike.utf8.count)
        #expect(head.bodyLength == Self.body.utf8.count)
        #expect(head.host == "updates.example:8080")
        #expect(head.device == "gw-1" && head.time == "1764000000000" && head.session == "17640~abc" && head.mac == "q83v")
        #expect(head.signature == nil)
        // Header names in any case, blanks before values, keep-alive spelled out.
        let spelled = "POST /v1/check HTTP/1.1\r\nhOsT:\t x\r\nCONTENT-LENGTH: 2\r\nconnection: Keep-Alive\r\nslot-mac:m\r\n\r\n{}"
        guard case .complete(let other) = parse(spelled) else { Issue.record("not complete"); return }
        #expect(other.host == "x" && other.mac == "m" && other.bodyLength == 2)
    }

    @Test("every prefix of a check waits for more; a second request behind it is left alone")
    func prefixesAndPipelining() {
        let bytes = Array(Self.curlLike.utf8)
        for end in 0..<bytes.count {
            #expect(parse(Array(bytes[..<end])) == .incomplete, "prefix of \(end) bytes")
        }
        guard case .complete(let head) = parse(bytes + bytes + Array("GET / HTTP/1.1\r\n".utf8)) else {
            Issue.record("pipelined: not complete")
            return
        }
        #expect(head.headLength + head.bodyLength == bytes.count)
    }

    static let handedOver: [String] = [
        "GET /v1/check HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /v1/check HTTP/1.0\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/check?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
        "POST  /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
        // Framing the fast path does not do, or could read differently.
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: 1 1\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: 0000000002\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n",
        // Blanks after a value: NIO keeps them (a host or MAC would differ), and refuses a length with them.
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: 2\t\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\nHost: x \r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /v1/check HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nTrailer: Slot-MAC\r\nContent-Length: 2\r\n\r\n{}",
        // Malformed lines.
        "POST /v1/check HTTP/1.1\r\nHost : x\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\n: x\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\nHost: x\rContent-Length: 2\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\nHost: x\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\nHost: x\u{0}y\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\nHost: \u{e9}\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\r{}",
        // A credential twice: which one would count?
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nSlot-MAC: a\r\nslot-mac: b\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nSlot-Device: a\r\nSlot-Device: a\r\nContent-Length: 2\r\n\r\n{}",
        // Over the limits: the full parser answers 413 or 431.
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: 4097\r\n\r\n",
        "POST /v1/check HTTP/1.1\r\nHost: x\r\nX-Pad: \(String(repeating: "a", count: 9000))\r\nContent-Length: 2\r\n\r\n{}",
    ]

    @Test("anything else is handed to the full parser", arguments: handedOver)
    func handsOver(_ text: String) {
        #expect(parse(text) == .other)
    }

    @Test("what it takes, NIO's decoder frames the same way with the same fields")
    func agreesWithNIO() throws {
        var accepted = 0
        var rng = SystemRandomNumberGenerator()
        let seeds = [Self.curlLike, "POST /v1/check HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nSlot-Signature: s\r\n\r\n{}"]
        for seed in seeds {
            let bytes = Array(seed.utf8)
            for round in 0..<5000 {
                // Flip, insert or delete a few bytes in the head, from an alphabet of the bytes that matter.
                var mutated = bytes
                let alphabet = Array(" \t\r\n:,-0123456789aHTck\u{7f}".utf8) + [0, 0x80]
                for _ in 0..<(1 + round % 3) {
                    let at = Int.random(in: 0..<min(mutated.count, 300), using: &rng)
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: mutated[at] = alphabet.randomElement(using: &rng)!
                    case 1: mutated.insert(alphabet.randomElement(using: &rng)!, at: at)
                    default: mutated.remove(at: at)
                    }
                }
                guard case .complete(let head) = parse(mutated) else { continue }
                accepted += 1
                let nio = try Self.decodeWithNIO(mutated)
                let context = String(decoding: mutated, as: UTF8.self).debugDescription
                guard let (request, body, ended) = nio else {
                    Issue.record("NIO refused what the fast path took: \(context)")
                    continue
                }
                #expect(ended, "NIO did not see the end of \(context)")
                #expect(request.method == .POST && request.uri == "/v1/check" && request.version == .http1_1, "\(context)")
                #expect(body == head.bodyLength, "\(context)")
                #expect(request.headers["host"].first == head.host, "\(context)")
                #expect(request.headers["slot-mac"].first == head.mac && request.headers["slot-device"].first == head.device, "\(context)")
            }
        }
        #expect(accepted > 100)
    }

    /// The first request NIO reads from `bytes`, its body's length and whether it ended; nil if it refuses it.
    /// (What follows it may be refused: a mutation can leave bytes behind the body.)
    static func decodeWithNIO(_ bytes: [UInt8]) throws -> (HTTPRequestHead, Int, Bool)? {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)))
        defer { _ = try? channel.finish() }
        try? channel.writeInbound(ByteBuffer(bytes: bytes))
        var head: HTTPRequestHead?
        var body = 0
        while let part = try channel.readInbound(as: HTTPServerRequestPart.self) {
            switch part {
            case .head(let h): head = h
            case .body(let b): body += b.readableBytes
            case .end: return head.map { ($0, body, true) }
            }
        }
        return head.map { ($0, body, false) }
    }
}
