extension FileDescriptor {
    /// Up to `count` bytes at `offset`: fewer only when the file ends first.
    func readBytes(_ count: Int, at offset: UInt64) throws(SlotError) -> [UInt8] {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 16)
        defer { buffer.deallocate() }
        let n = try readFully(into: buffer, at: offset)
        return Array(buffer[0..<n])
    }
}
