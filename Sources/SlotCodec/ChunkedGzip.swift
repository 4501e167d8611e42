import CZlib

/// A gzip payload in which every chunk of the image can be decoded on its own
/// from its bytes and the 32 KiB of image that precede it.
///
/// The writer ends each chunk with a sync flush: the deflate stream is byte
/// aligned there, but keeps its history, so a chunk still compresses against
/// everything before it (plain gzip compression, about 5 % larger). A device
/// that rebuilds the image in order always holds the preceding 32 KiB (copied
/// locally or fetched, and checked) and can inflate any run of chunks fetched
/// with one `Range` request: see ``ChunkInflater``. The file is one ordinary
/// gzip member, so `gzip -d` and a full download read it as before.
public final class ChunkedGzipWriter {
    /// The fixed 10-byte header this writer emits: no name, no time, OS Unix.
    public static let header: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]

    private let stream: UnsafeMutablePointer<z_stream>
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
    private var crc = CRC32()
    private var inputSize: UInt64 = 0

    public init(level: Int32 = 6) throws(CodecError) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let rc = czlib_deflate_init_raw(stream, level)
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

    /// Compresses one chunk and flushes; `sink` receives its bytes (possibly
    /// in several calls). Returns how many bytes the chunk took.
    @discardableResult
    public func chunk<E: Error>(
        _ input: UnsafeRawBufferPointer, wrap: (CodecError) -> E, sink: (UnsafeRawBufferPointer) throws(E) -> Void
    ) throws(E) -> Int {
        crc.update(input)
        inputSize += UInt64(input.count)
        return try run(input, flush: Z_SYNC_FLUSH, wrap: wrap, sink: sink)
    }

    /// Ends the deflate stream and writes the gzip trailer (CRC-32, size).
    public func finish<E: Error>(wrap: (CodecError) -> E, sink: (UnsafeRawBufferPointer) throws(E) -> Void) throws(E) {
        try run(UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_FINISH, wrap: wrap, sink: sink)
        let trailer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 1)
        defer { trailer.deallocate() }
        for i in 0..<4 {
            trailer[i] = UInt8(truncatingIfNeeded: crc.value >> (8 * i))
            trailer[4 + i] = UInt8(truncatingIfNeeded: inputSize >> (8 * i))
        }
        try sink(UnsafeRawBufferPointer(trailer))
    }

    @discardableResult
    private func run<E: Error>(
        _ input: UnsafeRawBufferPointer, flush: Int32, wrap: (CodecError) -> E, sink: (UnsafeRawBufferPointer) throws(E) -> Void
    ) throws(E) -> Int {
        stream.pointee.next_in = input.isEmpty ? nil : UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        defer {
            stream.pointee.next_in = nil
            stream.pointee.avail_in = 0
        }
        var written = 0
        while true {
            stream.pointee.next_out = scratch.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(scratch.count)
            let rc = CZlib.deflate(stream, flush)
            guard rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR else {
                throw wrap(CodecError(.zlib, "zlib deflate failed (code \(rc))"))
            }
            let produced = scratch.count - Int(stream.pointee.avail_out)
            if produced > 0 {
                written += produced
                try sink(UnsafeRawBufferPointer(rebasing: scratch[..<produced]))
            }
            // A flush is complete when zlib leaves output space unused.
            if flush == Z_FINISH ? rc == Z_STREAM_END : stream.pointee.avail_out > 0 { break }
        }
        return written
    }
}

/// Inflates runs of chunks cut out of a ``ChunkedGzipWriter`` payload.
public final class ChunkInflater {
    /// Deflate's window: the most image a chunk's bytes can refer back to.
    public static let window = 32 * 1024

    private let stream: UnsafeMutablePointer<z_stream>

    public init() throws(CodecError) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let rc = czlib_inflate_init_raw(stream)
        guard rc == Z_OK else {
            stream.deallocate()
            throw CodecError(.zlib, "cannot initialise zlib inflate (code \(rc))")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
    }

    /// Inflates `input` (the bytes of one or more whole chunks) into exactly
    /// `output.count` bytes, with `history` (the image bytes just before the
    /// first chunk, at most ``window``) as the dictionary. Anything else, more
    /// or less output or input left over, is an error: the caller checks the
    /// chunk hashes afterwards, this only refuses what cannot be a chunk run.
    public func inflate(
        _ input: UnsafeRawBufferPointer, history: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) throws(CodecError) {
        inflateReset(stream)
        if !history.isEmpty {
            let rc = inflateSetDictionary(stream, history.baseAddress!.assumingMemoryBound(to: Bytef.self), uInt(history.count))
            guard rc == Z_OK else { throw CodecError(.zlib, "zlib refused the dictionary (code \(rc))") }
        }
        guard !input.isEmpty, !output.isEmpty else {
            guard input.isEmpty && output.isEmpty else { throw CodecError(.corrupt, "a chunk run of \(input.count) bytes cannot make \(output.count) bytes") }
            return
        }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = uInt(output.count)
        defer {
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
        }
        let rc = CZlib.inflate(stream, Z_SYNC_FLUSH)
        switch rc {
        case Z_OK, Z_BUF_ERROR, Z_STREAM_END:
            break
        default:
            let detail = stream.pointee.msg.map { String(cString: $0) } ?? "code \(rc)"
            throw CodecError(.corrupt, "corrupt chunk data: \(detail)")
        }
        let produced = output.count - Int(stream.pointee.avail_out)
        guard produced == output.count else {
            throw CodecError(.truncated, "a chunk run inflated to \(produced) bytes, the index says \(output.count)")
        }
        // The last chunk's bytes may end with the stream's end marker; any
        // other byte left over means the run was cut in the wrong place.
        if stream.pointee.avail_in > 0 && rc != Z_STREAM_END {
            // One more call consumes a trailing empty block that yields nothing.
            var spare: UInt8 = 0
            let leftover = withUnsafeMutablePointer(to: &spare) { pointer -> Int32 in
                stream.pointee.next_out = pointer
                stream.pointee.avail_out = 1
                return CZlib.inflate(stream, Z_SYNC_FLUSH)
            }
            guard (leftover == Z_OK || leftover == Z_STREAM_END || leftover == Z_BUF_ERROR), stream.pointee.avail_out == 1,
                stream.pointee.avail_in == 0
            else {
                throw CodecError(.corrupt, "a chunk run holds more data than the index says")
            }
        }
    }
}
