import SlotWire
import Testing

/// `Range` headers as RFC 9110 reads them; what the fuzzer cannot judge
/// (it only checks that a range stays inside the payload).
@Suite("Range header")
struct ByteRangeTests {
    @Test(
        "single ranges, suffixes, open ends, blanks and case; everything else is a full answer",
        arguments: [
            ("bytes=0-499", ByteRange.partial(0...499)),
            ("bytes=500-", .partial(500...999)),
            ("bytes=-200", .partial(800...999)),
            ("bytes=-5000", .partial(0...999)),
            ("bytes=990-2000", .partial(990...999)),
            ("  Bytes= 5 - 7 ", .partial(5...7)),
            ("bytes = 5-7", .full),
            ("BYTES=0-0", .partial(0...0)),
            ("bytes=1000-", .unsatisfiable),
            ("bytes=-0", .unsatisfiable),
            ("bytes=0-1,5-6", .full),
            ("bytes=7-5", .full),
            ("bytes=a-5", .full),
            ("bytes=+1-5", .full),
            ("bytes=99999999999999999999-", .full),
            ("bytes\u{1d}0-5", .full),
            ("items=0-5", .full),
            ("bytes=", .full),
            ("", .full),
        ])
    func parses(header: String, expected: ByteRange) {
        #expect(ByteRange.parse(header, size: 1000) == expected, "\(header)")
    }

    @Test("an empty payload has no range, and no header means the whole payload")
    func edges() {
        #expect(ByteRange.parse("bytes=0-", size: 0) == .unsatisfiable)
        #expect(ByteRange.parse("bytes=-1", size: 0) == .unsatisfiable)
        #expect(ByteRange.parse(nil, size: 10) == .full)
        #expect(UInt64(digits: "18446744073709551615") == .max)
        #expect(UInt64(digits: "18446744073709551616") == nil)
    }
}
