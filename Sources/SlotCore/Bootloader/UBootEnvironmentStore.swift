import Glibc

/// Both copies of a U-Boot environment as read, and what U-Boot makes of them.
public struct UBootEnvironmentSnapshot: Sendable, Equatable {
    public var copies: [UBootEnvironment.Copy]

    public init(copies: [UBootEnvironment.Copy]) {
        self.copies = copies
    }

    public var isRedundant: Bool { copies.count == 2 }
    /// The copy U-Boot uses; nil when none is valid.
    public var currentIndex: Int? { UBootEnvironment.currentIndex(copies) }
    /// The environment U-Boot uses; nil means its compiled-in default.
    public var environment: UBootEnvironment? { currentIndex.flatMap { copies[$0].environment } }

    /// Why each copy that is not valid was rejected.
    public var problems: [String] {
        copies.enumerated().compactMap { index, copy in
            if case .invalid(let reason) = copy { "copy \(index): \(reason)" } else { nil }
        }
    }
}

/// The device side of ``UBootEnvironment``: all of its I/O is here.
///
/// Block devices and regular files only. MTD (`/dev/mtd*`) and UBI
/// (`/dev/ubi*`, `/dev/mtd*:volume`) devices are refused, as is any
/// character device: writing NOR or NAND needs erase blocks, bad-block
/// skipping and (on NOR) boolean flags whose old copy is cleared after the
/// new one is written, and UBI needs volume-update ioctls. Use
/// `fw_setenv -s` there, or a block device or file.
///
/// Writing follows libubootenv on files and block devices: a single copy is
/// rewritten in place; of redundant copies the one U-Boot does not use is
/// rewritten with the current flag + 1 (wrapping at 255), so a torn write
/// leaves the current copy winning. Each write is one `pwrite` of the whole
/// copy, then `fsync`, then a read-back. Callers that read, change and write
/// should do it under ``withToolLock(_:)`` so `fw_setenv` does not interleave.
public struct UBootEnvironmentStore: Sendable {
    public let config: UBootEnvConfig
    /// libubootenv's lock file, or nil for none.
    public let lockPath: String?

    public static let defaultLockPath = "/var/lock/fw_printenv.lock"

    public init(config: UBootEnvConfig, lockPath: String? = UBootEnvironmentStore.defaultLockPath) {
        self.config = config
        self.lockPath = lockPath
    }

    /// Reads every copy. A copy that cannot be read in full (past the end of
    /// the file or device, or an I/O error) counts as invalid; a device that
    /// cannot be opened is an error.
    public func read() throws(SlotError) -> UBootEnvironmentSnapshot {
        try checkDevices()
        var copies: [UBootEnvironment.Copy] = []
        for copy in config.copies {
            let fd = try FileDescriptor.open(copy.device)
            defer { fd.close() }
            do {
                let offset = try resolvedOffset(copy, fd)
                let bytes = try fd.readBytes(copy.size, at: offset)
                if bytes.count < copy.size {
                    copies.append(.invalid("'\(copy.device)' ends \(bytes.count) bytes into the copy at offset \(offset)"))
                } else {
                    copies.append(UBootEnvironment.decodeCopy(bytes, redundant: config.isRedundant))
                }
            } catch where error.code == .io {
                copies.append(.invalid("cannot read it: \(error)"))
            }
        }
        return UBootEnvironmentSnapshot(copies: copies)
    }

    /// The environment U-Boot uses, or `stateCorrupt` when no copy is valid.
    public func load() throws(SlotError) -> UBootEnvironment {
        let snapshot = try read()
        guard let env = snapshot.environment else { throw noValidCopy(snapshot) }
        return env
    }

    /// Writes `environment` over the copy U-Boot does not use (the only copy
    /// when there is one), and returns the copies as they now are. Refused
    /// when no copy is valid: U-Boot is then running its compiled-in default,
    /// which a write would replace (see ``initialize(_:)``).
    @discardableResult
    public func write(_ environment: UBootEnvironment, over snapshot: UBootEnvironmentSnapshot) throws(SlotError) -> UBootEnvironmentSnapshot {
        guard let current = snapshot.currentIndex else { throw noValidCopy(snapshot) }
        let target = config.isRedundant ? 1 - current : 0
        let flag = config.isRedundant ? (snapshot.copies[current].flag ?? 0) &+ 1 : nil
        var after = snapshot
        after.copies[target] = .valid(environment, flag: flag)
        try writeCopy(environment, index: target, flag: flag)
        return after
    }

    /// Writes a first environment where no copy is valid (copy 0, flag 1 when
    /// redundant, as `mkenvimage -r` makes it). It replaces U-Boot's
    /// compiled-in default, so it must hold everything U-Boot needs
    /// (bootcmd...), not only slotctl's variables. Refused when a copy is valid.
    public func initialize(_ environment: UBootEnvironment) throws(SlotError) {
        let snapshot = try read()
        if snapshot.currentIndex != nil {
            throw SlotError(.alreadyProvisioned, "\(config.path): the U-Boot environment already has a valid copy: refusing to initialize it")
        }
        try writeCopy(environment, index: 0, flag: config.isRedundant ? 1 : nil)
    }

    /// Read, change, write, under the lock.
    @discardableResult
    public func update(_ change: (inout UBootEnvironment) throws(SlotError) -> Void) throws(SlotError) -> UBootEnvironment {
        try withToolLock { () throws(SlotError) -> UBootEnvironment in
            let snapshot = try read()
            guard var env = snapshot.environment else { throw noValidCopy(snapshot) }
            try change(&env)
            try write(env, over: snapshot)
            return env
        }
    }

    /// Holds libubootenv's lock (the one `fw_setenv` takes) while `body`
    /// runs. Without a lock path, or when its directory does not exist (an
    /// initramfs), `body` runs unlocked.
    public func withToolLock<T>(_ body: () throws(SlotError) -> T) throws(SlotError) -> T {
        guard let lockPath, FileSystem.exists(FileSystem.parentDirectory(of: lockPath)) else { return try body() }
        let fd = try FileDescriptor.open(lockPath, [.writeOnly, .create], mode: 0o666)
        defer { fd.close() }
        _ = try fd.lockExclusive(wait: true)
        return try body()
    }

    // MARK: - Devices

    private func writeCopy(_ environment: UBootEnvironment, index: Int, flag: UInt8?) throws(SlotError) {
        try checkDevices()
        let copy = config.copies[index]
        let bytes: [UInt8]
        do {
            bytes = try environment.encodeCopy(size: copy.size, flag: flag)
        } catch {
            throw SlotError(error.code, "\(config.path):\(copy.line): \(error.message)", cause: error.cause)
        }
        let fd = try FileDescriptor.open(copy.device, .readWrite)
        defer { fd.close() }
        let offset = try resolvedOffset(copy, fd)
        try bytes.withRawBytes { (buffer) throws(SlotError) in try fd.write(buffer, at: offset) }
        FailPoint.hit("uboot-env-written")
        try fd.sync()
        FailPoint.hit("uboot-env-synced")

        fd.dropCache(offset: offset, length: UInt64(bytes.count))
        guard try fd.readBytes(bytes.count, at: offset) == bytes else {
            throw SlotError(.readBackMismatch, "'\(copy.device)': the U-Boot environment copy at offset \(offset) reads back different from what was written")
        }
    }

    /// The byte offset of a copy; a negative one counts from the end.
    private func resolvedOffset(_ copy: UBootEnvConfig.Copy, _ fd: FileDescriptor) throws(SlotError) -> UInt64 {
        if copy.offset >= 0 { return UInt64(copy.offset) }
        let info = try fd.stat()
        let end = info.isBlockDevice ? try fd.blockDeviceSize() : info.size
        guard UInt64(-copy.offset) <= end else {
            throw SlotError(.invalidConfig, "\(config.path):\(copy.line): offset \(copy.offset) is before the start of '\(copy.device)' (\(end) bytes)")
        }
        return end - UInt64(-copy.offset)
    }

    /// Refuses MTD, UBI and other character devices (see the type's notes).
    private func checkDevices() throws(SlotError) {
        for copy in config.copies {
            let named = copy.device.hasPrefix("/dev/mtd") || copy.device.hasPrefix("/dev/ubi")
            let isCharacterDevice = (try? FileSystem.stat(copy.device)).map { $0.mode & S_IFMT == S_IFCHR } ?? false
            if named || isCharacterDevice {
                throw SlotError(
                    .invalidConfig,
                    "\(config.path):\(copy.line): '\(copy.device)' is an MTD, UBI or character device; slotctl writes the U-Boot environment only on block devices and files (flash needs erase blocks and, on NOR, boolean flags)")
            }
        }
    }

    private func noValidCopy(_ snapshot: UBootEnvironmentSnapshot) -> SlotError {
        SlotError(
            .stateCorrupt,
            "\(config.path): no valid copy of the U-Boot environment (\(snapshot.problems.joined(separator: "; "))): U-Boot boots with its compiled-in default environment")
    }
}
