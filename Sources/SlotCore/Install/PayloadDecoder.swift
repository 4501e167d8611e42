import SlotCodec

/// Turns payload bytes into image bytes for an ``ImageWriter``: passes raw
/// bytes through or inflates gzip (the codec's multi-member policy).
final class PayloadDecoder {
    enum Format: Sendable, Equatable {
        case raw
        case gzip
    }

    private let inflater: GzipInflater?

    init(format: Format) throws(SlotError) {
        do throws(CodecError) {
            inflater = format == .gzip ? try GzipInflater() : nil
        } catch {
            throw SlotError(error)
        }
    }

    var isRaw: Bool { inflater == nil }

    func feed(_ bytes: UnsafeRawBufferPointer, into writer: ImageWriter) throws(SlotError) {
        guard let inflater else { return try writer.append(bytes) }
        try inflater.inflate(bytes, wrap: SlotError.init) { (chunk) throws(SlotError) in try writer.append(chunk) }
    }

    /// End of the payload: a gzip stream must have ended with a member.
    func finish() throws(SlotError) {
        do throws(CodecError) {
            try inflater?.finish()
        } catch {
            throw SlotError(error)
        }
    }
}

extension SlotError {
    /// Bad compressed data is a bad image.
    init(_ codec: CodecError) {
        self.init(.badImage, codec.message, cause: codec)
    }
}
