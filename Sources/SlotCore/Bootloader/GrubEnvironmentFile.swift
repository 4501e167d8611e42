/// The file side of ``GrubEnvironment``: all of its I/O is here.
///
/// GRUB's `save_env` writes the disk blocks the file occupied when GRUB read
/// it, so the file must never be replaced: slotctl rewrites the existing file
/// in place, the whole block in one `pwrite` at offset 0, then `fsync`, and
/// never truncates or renames it. Only a grubenv that does not exist yet is
/// made by ``GrubEnvironment/create(path:)`` (temp file, fsync, rename, fsync
/// of the directory: GRUB has no blocks recorded for a file it never read).
extension GrubEnvironment {
    /// grubenv files are 1024 bytes; GRUB itself reads any size.
    static let fileLimit = 1 << 20

    /// Reads and parses the grubenv at `path`. A missing file is
    /// `deviceNotFound`; a file without the signature is `stateCorrupt`.
    public static func read(path: String) throws(SlotError) -> GrubEnvironment {
        let bytes = try FileSystem.readFile(path, limit: fileLimit)
        do {
            return try parse(bytes)
        } catch {
            throw SlotError(error.code, "'\(path)': \(error.message)", cause: error.cause)
        }
    }

    /// Rewrites the existing grubenv at `path` in place. The file must still
    /// be a GRUB block of ``size`` bytes (the one this environment was read from).
    public func write(inPlace path: String) throws(SlotError) {
        let bytes = try encodedNaming(path)
        let fd = try FileDescriptor.open(path, .readWrite)
        defer { fd.close() }
        let info = try fd.stat()
        guard info.isRegularFile else {
            throw SlotError(.io, "'\(path)' is not a regular file: GRUB's save_env can only write a grubenv file")
        }
        guard info.size == UInt64(size) else {
            throw SlotError(.stateChanged, "'\(path)' is \(info.size) bytes but the environment read from it was \(size): refusing to write over a file that changed")
        }
        guard try fd.readBytes(Self.signature.count, at: 0) == Self.signature else {
            throw SlotError(.stateCorrupt, "'\(path)' is not a GRUB environment block: refusing to write over it")
        }

        try bytes.withRawBytes { (buffer) throws(SlotError) in try fd.write(buffer, at: 0) }
        FailPoint.hit("grubenv-written")
        try fd.sync()
        FailPoint.hit("grubenv-synced")

        fd.dropCache(offset: 0, length: 0)
        guard try fd.readBytes(bytes.count, at: 0) == bytes else {
            throw SlotError(.readBackMismatch, "'\(path)' reads back different from the GRUB environment block just written")
        }
    }

    /// Makes a new grubenv at `path` (for `slotctl init`); refuses to replace
    /// an existing one. The directory must exist.
    public func create(path: String) throws(SlotError) {
        if FileSystem.exists(path) {
            throw SlotError(.alreadyProvisioned, "'\(path)' already exists: a GRUB environment block is only ever rewritten in place")
        }
        let bytes = try encodedNaming(path)
        try FileSystem.writeFileAtomically(path, bytes)
        FailPoint.hit("grubenv-created")
    }

    private func encodedNaming(_ path: String) throws(SlotError) -> [UInt8] {
        do {
            return try encoded()
        } catch {
            throw SlotError(error.code, "'\(path)': \(error.message)", cause: error.cause)
        }
    }
}
