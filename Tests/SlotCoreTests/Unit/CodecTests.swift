import Foundation
import SlotCodec
import SlotTestSupport
import Testing
@testable import SlotCore

/// The one gzip policy (SlotCodec), judged by `gzip -d`: what gzip accepts
/// cleanly we accept with the same bytes; what it refuses or only warns
/// about (trailing garbage) we refuse. The server's
/// upload path runs the same cases in SlotServerTests' GzipPolicyTests.
@Suite struct CodecTests {
    static let one = patternBytes(70_000, seed: 11)
    static let two = patternBytes(130_001, seed: 12)

    /// (name, stream, the image it must inflate to, or nil when refused)
    static var cases: [(String, [UInt8], [UInt8]?)] {
        let a = gzipCompress(one), b = gzipCompress(two)
        return [
            ("one member", a, one),
            ("two members (cat a.gz b.gz, pigz)", a + b, one + two),
            ("zero padding after the last member (tar, dd)", a + b + [UInt8](repeating: 0, count: 4096), one + two),
            ("garbage after the last member", a + Array("garbage".utf8), nil),
            ("garbage after zero padding", a + [0, 0, 0, 0x1f, 0x8b], nil),
            ("truncated inside the second member", a + b.prefix(b.count - 5), nil),
            ("truncated inside the header", Array(a.prefix(5)), nil),
            ("a corrupt byte in the data", Array(a.prefix(40)) + [a[40] ^ 0xff] + Array(a.dropFirst(41)), nil),
        ]
    }

    /// Inflates with the codec, in pieces of `step` bytes (member and
    /// padding boundaries fall anywhere).
    static func inflate(_ stream: [UInt8], step: Int) -> Result<[UInt8], CodecError> {
        do {
            let inflater = try GzipInflater()
            var out: [UInt8] = []
            var offset = 0
            while offset < stream.count {
                let end = min(stream.count, offset + step)
                try stream[offset..<end].withUnsafeBytes { piece in
                    try inflater.inflate(piece, wrap: { $0 }) { (bytes) throws(CodecError) in out += bytes }
                }
                offset = end
            }
            try inflater.finish()
            return .success(out)
        } catch {
            return .failure(error as! CodecError)
        }
    }

    @Test func gzipPolicyAgreesWithGzip() throws {
        let dir = try TempDirectory()
        for (name, stream, expected) in Self.cases {
            dir.write("case.gz", bytes: stream)
            let judge = CLI.run("/bin/sh", ["-c", "gzip -dc '\(dir.file("case.gz"))' > /dev/null 2>&1"]).status
            // gzip ignores zero padding silently (exit 0) and trailing garbage
            // with a warning (exit 2); we refuse the garbage: an image file with
            // something glued after it is not the image that was signed.
            #expect((judge == 0) == (expected != nil), "gzip -d and the expectation disagree on: \(name) (exit \(judge))")
            for step in [1, 7, 4096, stream.count + 1] {
                switch Self.inflate(stream, step: step) {
                case .success(let bytes):
                    #expect(bytes == expected, "\(name) (pieces of \(step))")
                case .failure(let error):
                    #expect(expected == nil, "\(name) (pieces of \(step)) refused: \(error)")
                }
            }
        }
    }

    @Test func slotInstallFollowsTheSamePolicy() throws {
        let box = try Sandbox()
        try box.manager.initialize(force: false)
        for (index, (name, stream, expected)) in Self.cases.enumerated() {
            box.dir.write("case\(index).gz", bytes: stream)
            do throws(SlotError) {
                let result = try box.manager.install(.file(box.dir.file("case\(index).gz")), slot: .B)
                #expect(expected != nil, "install took: \(name)")
                #expect(box.slotBytes("b.img", count: Int(result.record.size ?? 0)) == expected)
            } catch {
                #expect(expected == nil, "install refused \(name): \(error)")
                #expect(error.code == .badImage, "\(name): \(error)")
            }
        }
    }

    @Test func hexAndTimestamps() {
        #expect(Hex.string([0x00, 0x0f, 0xa5, 0xff]) == "000fa5ff")
        #expect(Hex.fixedWidth(0x1a2b, digits: 8) == "00001a2b")
        #expect(CRC32.hex(0xdeadbeef) == "deadbeef" && CRC32.parse("0xDEADBEEF") == 0xdeadbeef)
        #expect(Hex.isDigits("00ff", count: 4) && !Hex.isDigits("00fg", count: 4) && !Hex.isDigits("00f", count: 4))
        #expect(Timestamp.iso8601(seconds: 0) == "1970-01-01T00:00:00Z")
        #expect(Timestamp.iso8601(seconds: 1_795_000_000) == "2026-11-18T11:06:40Z")
        #expect(Timestamp.iso8601(millis: 1_795_000_000_999) == "2026-11-18T11:06:40Z")
        #expect(Timestamp.iso8601(millis: -1) == "1969-12-31T23:59:59Z")
    }
}
