import CZlib

/// Streaming gzip decompression, the one policy for every place that reads
/// gzip (`slotctl install`, the update client, uploads to the server):
///
/// - several members one after another are one stream, as `gzip -d` and
///   `pigz` read them (`cat a.gz b.gz`, pigz's independent blocks);
/// - zero bytes after the last member are padding (tar, dd to a block
///   size) and ignored, as `gzip -d` does;
/// - anything else after a member, a corrupt member, or an end in the middle
///   of a member is an error.
public final class GzipInflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    private var betweenMembers = false
    private var inPadding = false
    private var members = 0
    private var sawInput = false

    /// The two magic bytes that start every gzip member.
    public static func isGzip(_ prefix: some Collection<UInt8>) -> Bool {
        prefix.count >= 2 && prefix[prefix.startIndex] == 0x1f && prefix[prefix.index(after: prefix.startIndex)] == 0x8b
    }

    public init() throws(CodecError) {
        // zlib keeps a pointer back to its z_stream: it must never move.
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let rc = czlib_inflate_init_gzip(stream)
        guard rc == Z_OK else {
            stream.deallocate()
            scratch.deallocate()
            throw CodecError(.zlib, "cannot initialise zlib inflate (code \(rc))")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        scratch.deallocate()
    }

    /// Inflates all of `input`, calling `sink` with each run of output bytes.
    /// Codec failures are turned into the caller's error by `wrap`.
    public func inflate<E: Error>(
        _ input: UnsafeRawBufferPointer, wrap: (CodecError) -> E,
        sink: (UnsafeRawBufferPointer) throws(E) -> Void
    ) throws(E) {
        guard !input.isEmpty else { return }
        sawInput = true
        var offset = 0
        while offset < input.count {
            let rest = UnsafeRawBufferPointer(rebasing: input[offset...])
            if inPadding || betweenMembers && rest[0] == 0 {
                guard rest.allSatisfy({ $0 == 0 }) else {
                    throw wrap(CodecError(.trailingData, "gzip stream has data after the zero padding that follows its last member"))
                }
                inPadding = true
                return
            }
            if betweenMembers {
                guard rest[0] == 0x1f else {
                    throw wrap(CodecError(.trailingData, "gzip stream has trailing garbage after the end of the compressed data"))
                }
                inflateReset(stream)
                betweenMembers = false
            }
            stream.pointee.next_in = UnsafeMutablePointer(mutating: rest.baseAddress!.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = uInt(min(rest.count, Int(UInt32.max)))
            let offered = Int(stream.pointee.avail_in)
            repeat {
                let before = stream.pointee.avail_in
                stream.pointee.next_out = scratch.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = uInt(scratch.count)
                let rc = CZlib.inflate(stream, Z_NO_FLUSH)
                let produced = scratch.count - Int(stream.pointee.avail_out)
                if produced > 0 {
                    try sink(UnsafeRawBufferPointer(rebasing: scratch[0..<produced]))
                }
                switch rc {
                case Z_OK, Z_BUF_ERROR:
                    break
                case Z_STREAM_END:
                    betweenMembers = true
                    members += 1
                default:
                    let detail = stream.pointee.msg.map { String(cString: $0) } ?? "code \(rc)"
                    throw wrap(CodecError(.corrupt, "corrupt gzip data: \(detail)"))
                }
                if betweenMembers || produced == 0 && stream.pointee.avail_in == before { break }
            } while stream.pointee.avail_in > 0 || stream.pointee.avail_out == 0
            let consumed = offered - Int(stream.pointee.avail_in)
            if consumed == 0 && !betweenMembers {
                throw wrap(CodecError(.corrupt, "corrupt gzip data: zlib makes no progress"))
            }
            offset += consumed
            stream.pointee.next_in = nil
            stream.pointee.avail_in = 0
        }
    }

    /// Call at the end of input: no member, or a stream that stopped inside
    /// one, is truncated.
    public func finish() throws(CodecError) {
        guard sawInput else { throw CodecError(.truncated, "gzip stream is empty") }
        guard betweenMembers || inPadding, members > 0 else {
            throw CodecError(.truncated, "gzip stream is truncated (ended before its trailer)")
        }
    }
}

/// Streaming gzip compression (one member), for `deploy --gzip` and tests:
/// the input is compressed chunk by chunk, never held whole in memory.
public final class GzipDeflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)

    public init(level: Int32 = 6) throws(CodecError) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let rc = czlib_deflate_init_gzip(stream, level)
        guard rc == Z_OK else {
            stream.deallocate()
            scratch.deallocate()
            throw CodecError(.zlib, "cannot initialise zlib deflate (code \(rc))")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
        scratch.deallocate()
    }

    /// Compresses `input`; with `finish` also writes the gzip trailer.
    public func deflate<E: Error>(
        _ input: UnsafeRawBufferPointer, finish: Bool = false, wrap: (CodecError) -> E,
        sink: (UnsafeRawBufferPointer) throws(E) -> Void
    ) throws(E) {
        stream.pointee.next_in = input.isEmpty ? nil : UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        defer {
            stream.pointee.next_in = nil
            stream.pointee.avail_in = 0
        }
        let flush = finish ? Z_FINISH : Z_NO_FLUSH
        while true {
            stream.pointee.next_out = scratch.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(scratch.count)
            let rc = CZlib.deflate(stream, flush)
            guard rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR else {
                throw wrap(CodecError(.zlib, "zlib deflate failed (code \(rc))"))
            }
            let produced = scratch.count - Int(stream.pointee.avail_out)
            if produced > 0 {
                try sink(UnsafeRawBufferPointer(rebasing: scratch[..<produced]))
            }
            if finish ? rc == Z_STREAM_END : (stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0) { break }
        }
    }
}
