import Glibc

/// In the initramfs no root is mounted yet, so the state directory lives on
/// a partition nobody has mounted: `[boot] state-device` names it. This
/// mounts it read-write on a private mount point for the decision and
/// unmounts it afterwards (which also flushes the filesystem).
public struct StateMount: Sendable {
    public let mountPoint: String
    public let stateDirectory: String

    public static func mount(_ boot: SystemConfig.BootConfig, runDirectory: String) throws(SlotError) -> StateMount {
        let device = try DeviceResolver.resolve(boot.stateDevice)
        let fstype = BlockProbe.probe(device)?.filesystemType ?? "ext4"
        let mountPoint = runDirectory + "/.state-device"
        try FileSystem.makeDirectories(mountPoint, mode: 0o700)
        if Glibc.mount(device, mountPoint, fstype, UInt(MS_NOATIME), nil) != 0 {
            throw SlotError(.io, "cannot mount state device \(boot.stateDevice) (\(device), \(fstype)) on \(mountPoint)", cause: Errno.current)
        }
        let directory = mountPoint + "/" + boot.statePath
        do {
            try FileSystem.makeDirectories(directory)
        } catch {
            _ = umount2(mountPoint, 0)
            throw error
        }
        return StateMount(mountPoint: mountPoint, stateDirectory: directory)
    }

    public func unmount() throws(SlotError) {
        sync()
        if umount2(mountPoint, 0) != 0 {
            throw SlotError(.io, "cannot unmount \(mountPoint)", cause: Errno.current)
        }
    }
}
