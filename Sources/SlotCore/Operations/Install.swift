import SlotCodec

extension SlotManager {
    /// Progress of an install: input bytes consumed and, when known, the total.
    public typealias ProgressHandler = (_ done: UInt64, _ total: UInt64?) -> Void

    /// `slotctl install`: streams an image file or standard input into the
    /// inactive slot (or the named one), verifies it and makes it the next
    /// to boot. gzip is recognised here, by its magic, once.
    @discardableResult
    public func install(
        _ input: ImageInput, slot requested: SlotName? = nil, provision: Bool = false,
        expectations: InstallExpectations = InstallExpectations(), progress: ProgressHandler? = nil
    ) throws(SlotError) -> InstalledImage {
        let source = try input.open()
        defer { source.close() }
        // Files: peeked with pread, so reading starts again at 0.
        // Pipes: the peeked bytes are fed first.
        let head = try source.peek(2)
        let gzip = GzipInflater.isGzip(head)
        var expectations = expectations
        if !gzip, let size = source.size {
            if let expected = expectations.size, expected != size {
                throw SlotError(.sizeMismatch, "the image has \(size) bytes, expected \(expected)")
            }
            expectations.size = size
        }
        if source.size == 0 || (source.size == nil && head.isEmpty) {
            throw SlotError(.badImage, "the image is empty")
        }
        let request = InstallRequest(slot: requested, provision: provision, expectations: expectations, gzip: gzip)
        return try install(request) { (session) throws(SlotError) in
            var offset: UInt64 = 0
            if source.size == nil {
                try head.withRawBytes { (bytes) throws(SlotError) in try session.write(bytes) }
                offset = UInt64(head.count)
            }
            var descriptor = source.descriptor
            try session.pump(&descriptor) { consumed in progress?(offset + consumed, source.size) }
        }
    }
}
