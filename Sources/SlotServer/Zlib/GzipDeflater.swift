import CZlib

/// Streaming gzip compression for `deploy --gzip`: the image is read and
/// compressed chunk by chunk, never held whole in memory.
final class GzipDeflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)

    init(level: Int32 = 6) throws(ServerError) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = czlib_deflate_init_gzip(stream, level)
        guard status == Z_OK else {
            stream.deallocate()
            throw ServerError(.internal, "zlib deflateInit2 failed (\(status))")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
        output.deallocate()
    }

    /// Compresses `input`; `finish` writes the gzip trailer.
    func update(
        _ input: UnsafeRawBufferPointer, finish: Bool = false, _ sink: (UnsafeRawBufferPointer) throws(ServerError) -> Void
    ) throws(ServerError) {
        stream.pointee.next_in = input.isEmpty ? nil : UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        defer {
            stream.pointee.next_in = nil
            stream.pointee.avail_in = 0
        }
        let flush = finish ? Z_FINISH : Z_NO_FLUSH
        while true {
            stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(output.count)
            let status = deflate(stream, flush)
            let produced = output.count - Int(stream.pointee.avail_out)
            guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                throw ServerError(.internal, "zlib deflate failed (\(status))")
            }
            if produced > 0 {
                try sink(UnsafeRawBufferPointer(rebasing: output[..<produced]))
            }
            if finish ? status == Z_STREAM_END : (stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0) { break }
        }
    }
}
