import CZlib

/// Streaming gzip decompression, so an uploaded gzip payload can be checked
/// against the manifest's image size and digests without storing the image.
final class GzipInflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
    private(set) var finished = false

    init() throws(ServerError) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = czlib_inflate_init_gzip(stream)
        guard status == Z_OK else {
            stream.deallocate()
            throw ServerError(.internal, "zlib inflateInit2 failed (\(status))")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        output.deallocate()
    }

    /// Inflates `input`, handing each chunk of image bytes to `sink`.
    func update(_ input: UnsafeRawBufferPointer, _ sink: (UnsafeRawBufferPointer) throws(ServerError) -> Void) throws(ServerError) {
        guard !input.isEmpty else { return }
        if finished { throw ServerError.badRequest("the gzip payload has bytes after its end") }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        defer {
            stream.pointee.next_in = nil
            stream.pointee.avail_in = 0
        }
        while stream.pointee.avail_in > 0 && !finished {
            stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(output.count)
            let status = inflate(stream, Z_NO_FLUSH)
            let produced = output.count - Int(stream.pointee.avail_out)
            switch status {
            case Z_OK, Z_BUF_ERROR: break
            case Z_STREAM_END: finished = true
            default:
                throw ServerError.badRequest("the payload is not a valid gzip stream (zlib status \(status))")
            }
            if produced > 0 {
                try sink(UnsafeRawBufferPointer(rebasing: output[..<produced]))
            }
            if status == Z_BUF_ERROR && produced == 0 { break }
        }
        if finished && stream.pointee.avail_in > 0 {
            throw ServerError.badRequest("the gzip payload has bytes after its end")
        }
    }
}
