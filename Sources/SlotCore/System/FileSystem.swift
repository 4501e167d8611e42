import Glibc

/// Path-level syscalls: the rest of SlotCore goes through these so tests can
/// inject failures and every error names its path.
public enum FileSystem {
    public static func stat(_ path: String) throws(SlotError) -> FileInfo {
        if let injected = FaultInjection.check("stat", path: path) {
            throw SlotError(.io, "cannot stat '\(path)'", cause: injected)
        }
        var st = Glibc.stat()
        if fstatat(AT_FDCWD, path, &st, 0) != 0 {
            let error = Errno.current
            throw SlotError(error == .noSuchFile ? .notFound : .io, "cannot stat '\(path)'", cause: error)
        }
        return FileInfo(st)
    }

    /// Like ``stat(_:)`` but nil when the path does not exist.
    public static func statIfPresent(_ path: String) throws(SlotError) -> FileInfo? {
        do {
            return try stat(path)
        } catch where error.code == .notFound {
            return nil
        }
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public static func rename(_ from: String, _ to: String) throws(SlotError) {
        if let injected = FaultInjection.check("rename", path: to) {
            throw SlotError(.io, "cannot rename '\(from)' to '\(to)'", cause: injected)
        }
        if Glibc.rename(from, to) != 0 {
            throw SlotError(.io, "cannot rename '\(from)' to '\(to)'", cause: Errno.current)
        }
    }

    /// Removes a file; a file that is already gone is not an error.
    public static func unlinkIfPresent(_ path: String) throws(SlotError) {
        if let injected = FaultInjection.check("unlink", path: path) {
            throw SlotError(.io, "cannot remove '\(path)'", cause: injected)
        }
        if Glibc.unlink(path) != 0 && errno != ENOENT {
            throw SlotError(.io, "cannot remove '\(path)'", cause: Errno.current)
        }
    }

    /// Creates a directory and its parents; existing ones are fine.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(SlotError) {
        if let injected = FaultInjection.check("mkdir", path: path) {
            throw SlotError(.io, "cannot create directory '\(path)'", cause: injected)
        }
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if Glibc.mkdir(current, mode) != 0 && errno != EEXIST {
                throw SlotError(.io, "cannot create directory '\(current)'", cause: Errno.current)
            }
        }
        guard try stat(path).isDirectory else {
            throw SlotError(.io, "'\(path)' exists and is not a directory")
        }
    }

    /// fsyncs a directory, which makes renames and new entries in it durable.
    public static func syncDirectory(_ path: String) throws(SlotError) {
        let fd = try FileDescriptor.open(path, [.readOnly, .directory])
        defer { fd.close() }
        try fd.sync()
    }

    /// Bytes available to unprivileged writers on the filesystem holding `path`.
    public static func availableBytes(_ path: String) throws(SlotError) -> UInt64 {
        var info = statvfs()
        if statvfs(path, &info) != 0 {
            throw SlotError(.io, "cannot read free space of '\(path)'", cause: Errno.current)
        }
        return UInt64(info.f_bavail) * UInt64(info.f_frsize)
    }

    /// Names in a directory, without "." and "..".
    public static func contentsOfDirectory(_ path: String) throws(SlotError) -> [String] {
        guard let dir = opendir(path) else {
            throw SlotError(.io, "cannot list '\(path)'", cause: Errno.current)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Removes a file or a directory tree without following symlinks.
    public static func removeTree(_ path: String) throws(SlotError) {
        var st = Glibc.stat()
        if lstat(path, &st) != 0 {
            if errno == ENOENT { return }
            throw SlotError(.io, "cannot stat '\(path)'", cause: Errno.current)
        }
        if st.st_mode & S_IFMT == S_IFDIR {
            for name in try contentsOfDirectory(path) {
                try removeTree(path + "/" + name)
            }
            if Glibc.rmdir(path) != 0 {
                throw SlotError(.io, "cannot remove directory '\(path)'", cause: Errno.current)
            }
        } else {
            try unlinkIfPresent(path)
        }
    }

    /// Reads a small file whole.
    public static func readFile(_ path: String, limit: Int = 1 << 20) throws(SlotError) -> [UInt8] {
        let fd = try FileDescriptor.open(path)
        defer { fd.close() }
        return try fd.readAll(limit: limit)
    }

    /// Writes a small file durably: temp file, fsync, rename, directory fsync.
    public static func writeFileAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(SlotError) {
        let directory = parentDirectory(of: path)
        let temp = path + ".tmp"
        let fd = try FileDescriptor.open(temp, [.writeOnly, .create, .truncate], mode: mode)
        do {
            try fd.write(bytes)
            try fd.sync()
            fd.close()
        } catch {
            fd.close()
            try? unlinkIfPresent(temp)
            throw error
        }
        try rename(temp, path)
        try syncDirectory(directory)
    }

    public static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }
}
