import Glibc

/// Which slot the running system came from. The boot hook writes
/// `run-dir/booted`; without it, the slot whose block device is mounted as
/// `/` is the booted one; otherwise nobody knows (nil).
public enum BootedSlot {
    public static func fileName(runDirectory: String) -> String { runDirectory + "/booted" }

    public static func detect(config: SystemConfig) -> SlotName? {
        if let bytes = try? FileSystem.readFile(fileName(runDirectory: config.runDirectory), limit: 4096),
            let text = String(validating: bytes, as: UTF8.self),
            let slot = BootAssignments.bootedSlot(fromShellText: text)
        {
            return slot
        }
        return matchRootDevice(config: config)
    }

    /// Compares the device of `/` with each block slot's device number.
    static func matchRootDevice(config: SystemConfig, root: String = "/") -> SlotName? {
        guard let rootInfo = try? FileSystem.stat(root) else { return nil }
        for name in SlotName.allCases {
            guard case .block(let spec) = config.slot(name).storage,
                let path = try? DeviceResolver.resolve(spec),
                let info = try? FileSystem.stat(path), info.isBlockDevice
            else { continue }
            if info.rdev == rootInfo.device { return name }
        }
        return nil
    }

    /// Records the decision where later commands look for it. The run
    /// directory is volatile (tmpfs) and lives for one boot, so the file is
    /// replaced by rename but not fsynced: the durable record is the state.
    public static func write(_ assignments: BootAssignments, runDirectory: String) throws(SlotError) {
        if !FileSystem.exists(runDirectory) { try FileSystem.makeDirectories(runDirectory) }
        let path = fileName(runDirectory: runDirectory)
        let temp = path + ".tmp"
        let fd = try FileDescriptor.open(temp, [.writeOnly, .create, .truncate], mode: 0o644)
        defer { fd.close() }
        try fd.write(Array(assignments.shellText.utf8))
        try FileSystem.rename(temp, path)
    }
}
