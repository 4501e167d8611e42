import CZlib

/// Streaming gzip decompression with zlib. Handles multi-member streams
/// (concatenated gzip files, as `pigz` and `cat a.gz b.gz` produce) and
/// rejects trailing garbage and truncation.
public final class GzipInflater {
    private var stream = z_stream()
    private var finishedMember = false
    private var sawInput = false

    /// The two magic bytes that start every gzip stream.
    public static func isGzip(_ prefix: some Collection<UInt8>) -> Bool {
        prefix.count >= 2 && prefix[prefix.startIndex] == 0x1f && prefix[prefix.index(after: prefix.startIndex)] == 0x8b
    }

    public init() throws(SlotError) {
        let rc = czlib_inflate_init_gzip(&stream)
        guard rc == Z_OK else { throw SlotError(.io, "cannot initialise zlib inflate (code \(rc))") }
    }

    deinit { inflateEnd(&stream) }

    /// Inflates all of `input`, calling `sink` with each run of output bytes.
    /// `output` is the scratch buffer the output is written into.
    public func inflate(
        _ input: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer,
        sink: (UnsafeRawBufferPointer) throws(SlotError) -> Void
    ) throws(SlotError) {
        guard input.count > 0 else { return }
        var inputOffset = 0
        while inputOffset < input.count {
            if finishedMember {
                // Another member follows, or garbage: only a gzip magic may follow.
                let rest = UnsafeRawBufferPointer(rebasing: input[inputOffset...])
                if rest.allSatisfy({ $0 == 0 }) { return }  // zero padding (tar, dd) after the last member
                guard rest[0] == 0x1f else {
                    throw SlotError(.badImage, "gzip stream has trailing garbage after the end of the compressed data")
                }
                inflateReset(&stream)
                finishedMember = false
            }
            let rest = UnsafeRawBufferPointer(rebasing: input[inputOffset...])
            stream.next_in = UnsafeMutablePointer(mutating: rest.baseAddress!.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(min(rest.count, Int(UInt32.max)))
            let offered = Int(stream.avail_in)
            sawInput = true
            repeat {
                let availableBefore = stream.avail_in
                stream.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(min(output.count, Int(UInt32.max)))
                let rc = CZlib.inflate(&stream, Z_NO_FLUSH)
                let produced = output.count - Int(stream.avail_out)
                if produced > 0 {
                    try sink(UnsafeRawBufferPointer(rebasing: output[0..<produced]))
                }
                switch rc {
                case Z_OK, Z_BUF_ERROR:
                    break
                case Z_STREAM_END:
                    finishedMember = true
                default:
                    let detail = stream.msg.map { String(cString: $0) } ?? "code \(rc)"
                    throw SlotError(.badImage, "corrupt gzip data: \(detail)")
                }
                if finishedMember { break }
                if produced == 0 && stream.avail_in == availableBefore { break }  // no progress: needs more input
            } while stream.avail_in > 0 || stream.avail_out == 0
            inputOffset += offered - Int(stream.avail_in)
        }
    }

    /// Call at the end of input: a stream that stopped mid-member is truncated.
    public func finish() throws(SlotError) {
        if sawInput && !finishedMember {
            throw SlotError(.badImage, "gzip stream is truncated (ended before its trailer)")
        }
    }
}
