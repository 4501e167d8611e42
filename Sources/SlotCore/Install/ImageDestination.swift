import Glibc

/// Where an image's bytes go: a block device (opened exclusively, so a
/// mounted one is refused), a regular file standing in for one, or a temp
/// file in a directory slot that replaces the payload by rename on commit.
public final class ImageDestination: @unchecked Sendable {
    // Immutable after init, except `closed`, which only the owning thread touches.
    public enum Kind: Sendable, Equatable {
        case blockDevice
        case regularFile
        case directoryPayload(temp: String, final: String, directory: String)
    }

    public let path: String
    public let kind: Kind
    public let capacity: UInt64
    let descriptor: FileDescriptor
    private var closed = false

    private init(path: String, kind: Kind, capacity: UInt64, descriptor: FileDescriptor) {
        self.path = path
        self.kind = kind
        self.capacity = capacity
        self.descriptor = descriptor
    }

    /// Opens a slot for writing. Nothing is written yet.
    public static func open(_ slot: SlotDefinition) throws(SlotError) -> ImageDestination {
        switch slot.storage {
        case .block(let spec):
            let path = try DeviceResolver.resolve(spec)
            let info: FileInfo
            do {
                info = try FileSystem.stat(path)
            } catch {
                throw SlotError(.notFound, "slot \(slot.name): device '\(path)' does not exist", cause: error.cause)
            }
            if info.isBlockDevice {
                // O_EXCL on a block device: exclusive open, EBUSY when mounted.
                let fd: FileDescriptor
                do {
                    fd = try FileDescriptor.open(path, [.writeOnly, .exclusive])
                } catch {
                    if let errno = error.cause as? Errno, errno == .busy {
                        throw SlotError(.slotNotUsable, "slot \(slot.name): device '\(path)' is in use (mounted?)", cause: errno)
                    }
                    throw error
                }
                do {
                    return ImageDestination(path: path, kind: .blockDevice, capacity: try fd.blockDeviceSize(), descriptor: fd)
                } catch {
                    fd.close()
                    throw error
                }
            }
            guard info.isRegularFile else {
                throw SlotError(.slotNotUsable, "slot \(slot.name): '\(path)' is neither a block device nor a regular file")
            }
            let fd = try FileDescriptor.open(path, .writeOnly)
            return ImageDestination(path: path, kind: .regularFile, capacity: info.size, descriptor: fd)

        case .directory(let directory, let filename):
            guard let info = try FileSystem.statIfPresent(directory), info.isDirectory else {
                throw SlotError(.notFound, "slot \(slot.name): directory '\(directory)' does not exist")
            }
            let final = directory + "/" + filename
            let temp = directory + "/." + filename + ".installing"
            try FileSystem.unlinkIfPresent(temp)  // left over from an interrupted install
            // The old payload stays until the rename, so only free space counts;
            // leave a MiB for metadata.
            let available = try FileSystem.availableBytes(directory)
            let capacity = available > 1 << 20 ? available - (1 << 20) : 0
            let fd = try FileDescriptor.open(temp, [.writeOnly, .create, .exclusive], mode: 0o644)
            return ImageDestination(
                path: temp, kind: .directoryPayload(temp: temp, final: final, directory: directory),
                capacity: capacity, descriptor: fd)
        }
    }

    /// A descriptor for O_DIRECT writes of whole aligned chunks: they skip
    /// the page cache (no dirty-page throttling, no second copy) and are on
    /// the device when the call returns. Nil where the file system refuses.
    func openForDirectWrite() -> FileDescriptor? {
        try? FileDescriptor.open(path, [.writeOnly, .direct])
    }

    /// A second descriptor for reading back, with O_DIRECT when the file
    /// system allows it so the bytes come from the medium, not the cache.
    func openForReadBack() -> (FileDescriptor, direct: Bool)? {
        if let fd = try? FileDescriptor.open(path, [.readOnly, .direct]) { return (fd, true) }
        if let fd = try? FileDescriptor.open(path, .readOnly) { return (fd, false) }
        return nil
    }

    /// Makes the written image the slot's content: for a directory slot the
    /// temp file replaces the payload atomically.
    public func commit() throws(SlotError) {
        close()
        if case .directoryPayload(let temp, let final, let directory) = kind {
            try FileSystem.rename(temp, final)
            try FileSystem.syncDirectory(directory)
        }
    }

    /// Gives up: closes, and removes a directory slot's temp file.
    public func discard() {
        close()
        if case .directoryPayload(let temp, _, _) = kind {
            try? FileSystem.unlinkIfPresent(temp)
        }
    }

    private func close() {
        if !closed {
            descriptor.close()
            closed = true
        }
    }
}
