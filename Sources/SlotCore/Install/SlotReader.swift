import SlotCodec
/// Reads a slot's current bytes: to verify a recorded image, or as the source
/// of a factory reset (R's image copied into A or B).
public enum SlotReader {
    /// Opens the slot's bytes for reading.
    public static func open(_ slot: SlotDefinition) throws(SlotError) -> FileDescriptor {
        let path: String
        switch slot.storage {
        case .block(let spec): path = try DeviceResolver.resolve(spec)
        case .directory: path = slot.payloadPath!
        }
        let fd = try FileDescriptor.open(path)
        fd.adviseSequential()
        return fd
    }

    /// CRC32 of the first `size` bytes of the slot; fails if it is shorter.
    public static func crc32(of slot: SlotDefinition, size: UInt64) throws(SlotError) -> UInt32 {
        let fd = try open(slot)
        defer { fd.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        var crc = CRC32()
        var position: UInt64 = 0
        while position < size {
            let wanted = Int(min(UInt64(buffer.count), size - position))
            let got = try fd.readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<wanted]), at: position)
            guard got == wanted else {
                throw SlotError(.sizeMismatch, "slot \(slot.name) ends after \(position + UInt64(got)) bytes, its image has \(size)")
            }
            crc.update(UnsafeRawBufferPointer(rebasing: buffer[0..<got]))
            position += UInt64(got)
        }
        return crc.value
    }
}
