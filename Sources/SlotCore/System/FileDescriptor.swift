import CSlotSys
import Glibc
import SystemPackage

/// An open file descriptor and the few operations on it that SlotCore needs:
/// swift-system's descriptor (open, read, write, close, retried on EINTR)
/// with what the core adds in this one place: failures as a ``SlotError``
/// whose message names the path and whose cause is the `Errno`, the
/// ``FaultInjection`` checks of the crash tests, and the calls swift-system
/// does not have (fsync, fstat, fadvise, flock, the block-device ioctls).
public struct FileDescriptor: Sendable {
    let descriptor: SystemPackage.FileDescriptor
    /// The path it was opened with, for error messages.
    public let path: String

    public var rawValue: Int32 { descriptor.rawValue }

    public init(rawValue: Int32, path: String) {
        descriptor = SystemPackage.FileDescriptor(rawValue: rawValue)
        self.path = path
    }

    public static let standardOutput = FileDescriptor(rawValue: STDOUT_FILENO, path: "stdout")
    public static let standardError = FileDescriptor(rawValue: STDERR_FILENO, path: "stderr")

    public struct OpenOptions: OptionSet, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let readOnly = OpenOptions([])
        public static let writeOnly = OpenOptions(rawValue: O_WRONLY)
        public static let readWrite = OpenOptions(rawValue: O_RDWR)
        public static let create = OpenOptions(rawValue: O_CREAT)
        public static let exclusive = OpenOptions(rawValue: O_EXCL)
        public static let truncate = OpenOptions(rawValue: O_TRUNC)
        public static let directory = OpenOptions(rawValue: O_DIRECTORY)
        public static let direct = OpenOptions(rawValue: slotsys_o_direct())
        public static let noFollow = OpenOptions(rawValue: O_NOFOLLOW)
    }

    public static func open(_ path: String, _ options: OpenOptions = .readOnly, mode: mode_t = 0o644) throws(SlotError) -> FileDescriptor {
        if let injected = FaultInjection.check("open", path: path) {
            throw SlotError(.io, "cannot open '\(path)'", cause: injected)
        }
        let access = SystemPackage.FileDescriptor.AccessMode(rawValue: options.rawValue & O_ACCMODE)
        let flags = SystemPackage.FileDescriptor.OpenOptions(rawValue: (options.rawValue & ~O_ACCMODE) | O_CLOEXEC)
        do {
            let descriptor = try SystemPackage.FileDescriptor.open(
                FilePath(path), access, options: flags, permissions: FilePermissions(rawValue: mode), retryOnInterrupt: true)
            return FileDescriptor(rawValue: descriptor.rawValue, path: path)
        } catch {
            let errno = error as? Errno ?? .ioError
            throw SlotError(errno == .noSuchFile ? .notFound : .io, "cannot open '\(path)'", cause: errno)
        }
    }

    public func close() {
        try? descriptor.close()
    }

    /// Reads up to `buffer.count` bytes at the current offset; 0 means end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SlotError) -> Int {
        try checked("read") { try descriptor.read(into: buffer) }
    }

    /// Reads up to `buffer.count` bytes at `offset`; 0 means end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(SlotError) -> Int {
        let n = try checked("read") { try descriptor.read(fromAbsoluteOffset: Int64(offset), into: buffer) }
        if n > 0, FaultInjection.check("corrupt-read", path: path) != nil {
            buffer[0] ^= 0x01
        }
        return n
    }

    /// Fills the buffer unless the file ends first; returns the bytes read.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(SlotError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]), at: offset + UInt64(done))
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Reads the whole file from the current offset, refusing more than `limit` bytes.
    public func readAll(limit: Int) throws(SlotError) -> [UInt8] {
        var result: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let n = try read(into: chunk)
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
            if result.count > limit {
                throw SlotError(.io, "'\(path)' is larger than \(limit) bytes")
            }
        }
    }

    /// Writes all of `buffer` at `offset`.
    public func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws(SlotError) {
        var done = 0
        while done < buffer.count {
            let rest = UnsafeRawBufferPointer(rebasing: buffer[done...])
            let n = try checked("write") { try descriptor.write(toAbsoluteOffset: Int64(offset) + Int64(done), rest) }
            if n == 0 { throw SlotError(.io, "cannot write '\(path)'", cause: Errno.noSpace) }
            done += n
        }
    }

    /// Writes all of `bytes` at the current offset.
    public func write(_ bytes: [UInt8]) throws(SlotError) {
        var done = 0
        while done < bytes.count {
            let n = try checked("write") {
                try bytes.withUnsafeBytes { buffer in try descriptor.write(UnsafeRawBufferPointer(rebasing: buffer[done...])) }
            }
            if n == 0 { throw SlotError(.io, "cannot write '\(path)'", cause: Errno.noSpace) }
            done += n
        }
    }

    public func sync() throws(SlotError) {
        _ = try retrying("fsync") { Int(Glibc.fsync(rawValue)) }
    }

    public func stat() throws(SlotError) -> FileInfo {
        var st = Glibc.stat()
        _ = try retrying("fstat") { Int(Glibc.fstat(rawValue, &st)) }
        return FileInfo(st)
    }

    /// Drops the cached pages of a range so the next read comes from the medium.
    public func dropCache(offset: UInt64, length: UInt64) {
        _ = posix_fadvise(rawValue, off_t(offset), off_t(length), POSIX_FADV_DONTNEED)
    }

    /// Tells the kernel the file is read sequentially (bigger readahead).
    public func adviseSequential() {
        _ = posix_fadvise(rawValue, 0, 0, POSIX_FADV_SEQUENTIAL)
    }

    /// Capacity of a block device in bytes.
    public func blockDeviceSize() throws(SlotError) -> UInt64 {
        var size: UInt64 = 0
        let rc = slotsys_block_device_size(rawValue, &size)
        if rc != 0 { throw SlotError(.io, "cannot read the size of block device '\(path)'", cause: Errno(rawValue: -rc)) }
        return size
    }

    /// Flushes a block device's buffer cache (BLKFLSBUF), so reads come from the device.
    public func flushBlockDeviceBuffers() {
        _ = slotsys_block_flush_buffers(rawValue)
    }

    /// Takes an exclusive `flock`; false when another process holds it and `wait` is false.
    public func lockExclusive(wait: Bool) throws(SlotError) -> Bool {
        if let injected = FaultInjection.check("flock", path: path) {
            throw SlotError(.io, "cannot lock '\(path)'", cause: injected)
        }
        while true {
            if flock(rawValue, LOCK_EX | (wait ? 0 : LOCK_NB)) == 0 { return true }
            let error = Errno.current
            if error == .interrupted { continue }
            if error == .wouldBlock { return false }
            throw SlotError(.io, "cannot lock '\(path)'", cause: error)
        }
    }

    /// Runs a swift-system call (which retries EINTR itself) after the
    /// fault-injection check; its `Errno` becomes the cause of a SlotError.
    private func checked(_ call: String, _ body: () throws -> Int) throws(SlotError) -> Int {
        if let injected = FaultInjection.check(call, path: path) {
            throw SlotError(.io, "\(call) failed on '\(path)'", cause: injected)
        }
        do {
            return try body()
        } catch {
            throw SlotError(.io, "\(call) failed on '\(path)'", cause: error as? Errno ?? .ioError)
        }
    }

    /// Runs a syscall swift-system lacks, retrying on EINTR; a negative result becomes a SlotError.
    private func retrying(_ call: String, _ body: () -> Int) throws(SlotError) -> Int {
        if let injected = FaultInjection.check(call, path: path) {
            throw SlotError(.io, "\(call) failed on '\(path)'", cause: injected)
        }
        while true {
            let result = body()
            if result >= 0 { return result }
            let error = Errno.current
            if error == .interrupted { continue }
            throw SlotError(.io, "\(call) failed on '\(path)'", cause: error)
        }
    }
}
