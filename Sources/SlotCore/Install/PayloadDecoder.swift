/// Turns payload bytes into image bytes for an ``ImageWriter``: passes raw
/// bytes through, or inflates gzip, detected by its magic when asked to.
public final class PayloadDecoder {
    public enum Format: Sendable, Equatable {
        case detect
        case raw
        case gzip
    }

    private var format: Format
    private var pending: [UInt8] = []
    private var inflater: GzipInflater?
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)

    public init(format: Format) {
        self.format = format
    }

    deinit { scratch.deallocate() }

    /// Whether the payload turned out to be gzip (nil while still undecided).
    public var isGzip: Bool? {
        switch format {
        case .detect: nil
        case .raw: false
        case .gzip: true
        }
    }

    public func feed(_ bytes: UnsafeRawBufferPointer, into writer: ImageWriter) throws(SlotError) {
        if format == .detect {
            pending.append(contentsOf: bytes)
            guard pending.count >= 2 else { return }
            format = GzipInflater.isGzip(pending) ? .gzip : .raw
            let buffered = pending
            pending = []
            try buffered.withRawBytes { (buffer) throws(SlotError) in try decode(buffer, into: writer) }
            return
        }
        try decode(bytes, into: writer)
    }

    private func decode(_ bytes: UnsafeRawBufferPointer, into writer: ImageWriter) throws(SlotError) {
        switch format {
        case .detect, .raw:
            try writer.append(bytes)
        case .gzip:
            if inflater == nil { inflater = try GzipInflater() }
            try inflater!.inflate(bytes, output: scratch) { (chunk) throws(SlotError) in try writer.append(chunk) }
        }
    }

    /// End of the payload: flushes a lone undecided byte, detects truncated gzip.
    public func finish(into writer: ImageWriter) throws(SlotError) {
        if format == .detect, !pending.isEmpty {
            format = .raw
            let buffered = pending
            pending = []
            try buffered.withRawBytes { (buffer) throws(SlotError) in try writer.append(buffer) }
        }
        if format == .gzip {
            guard let inflater else { throw SlotError(.badImage, "gzip payload is empty") }
            try inflater.finish()
        }
    }
}
