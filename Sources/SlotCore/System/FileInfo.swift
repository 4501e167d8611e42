import Glibc

/// The parts of `struct stat` SlotCore looks at.
public struct FileInfo: Sendable, Equatable {
    public var size: UInt64
    public var mode: mode_t
    public var device: UInt64
    public var rdev: UInt64
    public var inode: UInt64

    init(_ st: stat) {
        size = UInt64(max(st.st_size, 0))
        mode = st.st_mode
        device = UInt64(st.st_dev)
        rdev = UInt64(st.st_rdev)
        inode = UInt64(st.st_ino)
    }

    public var isBlockDevice: Bool { mode & S_IFMT == S_IFBLK }
    public var isDirectory: Bool { mode & S_IFMT == S_IFDIR }
    public var isRegularFile: Bool { mode & S_IFMT == S_IFREG }
}

/// Monotonic seconds, for stage timings.
public enum Clock {
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
