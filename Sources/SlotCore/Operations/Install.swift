extension SlotManager {
    /// Progress of an install: input bytes consumed and, when known, the total.
    public typealias ProgressHandler = (_ done: UInt64, _ total: UInt64?) -> Void

    /// `slotctl install`: streams an image into the inactive slot (or the
    /// named one), verifies it and makes it the next to boot.
    @discardableResult
    public func install(
        _ input: ImageInput, slot requested: SlotName? = nil, provision: Bool = false,
        expectations: InstallExpectations = InstallExpectations(), progress: ProgressHandler? = nil
    ) throws(SlotError) -> (slot: SlotName, record: SlotRecord) {
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

        let session = try InstallSession.begin(
            manager: self, requested: requested, provision: provision, expectations: expectations,
            payload: gzip ? .gzip : .raw)
        do throws(SlotError) {
            let fd = source.descriptor
            var consumed: UInt64 = 0
            var lastReport: UInt64 = 0
            func report(force: Bool = false) {
                guard let progress, force || consumed - lastReport >= 8 << 20 else { return }
                lastReport = consumed
                progress(consumed, source.size)
            }
            if source.size == nil {
                try head.withRawBytes { (bytes) throws(SlotError) in try session.write(bytes) }
                consumed += UInt64(head.count)
            }
            if gzip {
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
                defer { buffer.deallocate() }
                while true {
                    let n = try fd.read(into: buffer)
                    if n == 0 { break }
                    try session.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                    consumed += UInt64(n)
                    report()
                }
            } else {
                while try session.fill({ (space) throws(SlotError) -> Int in
                    let n = try fd.read(into: space)
                    consumed += UInt64(n)
                    return n
                }) {
                    report()
                }
            }
            report(force: true)
            let record = try session.finish()
            return (session.slot, record)
        } catch {
            session.abandon(because: error)
            throw error
        }
    }
}
