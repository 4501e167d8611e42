extension SlotManager {
    /// Copies R's factory image into an inactive slot (verifying R's bytes
    /// against R's recorded CRC32 as they stream), activates it, marks the
    /// other counted slot bad, and with `wipeData` empties the data directory.
    /// Returns the slot that now holds the factory image.
    @discardableResult
    public func factoryReset(wipeData: Bool, progress: ProgressHandler? = nil) throws(SlotError) -> SlotName {
        let state = try store.load()
        let recovery = state[.R]
        guard recovery.status.holdsVerifiedImage, let size = recovery.size, let crc = recovery.crc32 else {
            throw SlotError(.notProvisioned, "R holds no provisioned image (install it with 'slotctl install IMAGE --slot R --provision')")
        }
        if wipeData && config.dataDirectory == nil {
            throw SlotError(.usage, "--wipe-data: no [system] data directory is configured in \(config.path)")
        }
        let request = InstallRequest(expectations: InstallExpectations(
            version: recovery.version, release: recovery.release, size: size, crc32: crc, sha256: recovery.sha256))
        let target: SlotName
        do throws(SlotError) {
            target = try install(request, state: state) { (session) throws(SlotError) in
                let descriptor = try SlotReader.open(config.slot(.R))
                defer { descriptor.close() }
                var source = BoundedReader(descriptor, size: size)
                let copied = try session.pump(&source) { progress?($0, size) }
                guard copied == size else {
                    throw SlotError(.sizeMismatch, "R ends after \(copied) bytes, its image has \(size)")
                }
            }.slot
        } catch where error.code == .checksumMismatch {
            throw SlotError(.checksumMismatch, "R's image does not match its recorded CRC32; factory reset refused", cause: error)
        }

        let other = target.sibling!
        try store.transaction { (state) throws(SlotError) in
            if state[other].status != .empty {
                state[other].markBad("factory reset")
            }
            state.record(.factoryReset, slot: target, "factory image \(recovery.version ?? "") copied from R into \(target)\(wipeData ? ", data wiped" : "")")
        }
        if wipeData, let data = config.dataDirectory {
            try Self.emptyDirectory(data)
        }
        return target
    }

    /// Removes everything inside a directory, keeping the directory itself.
    static func emptyDirectory(_ path: String) throws(SlotError) {
        guard let info = try FileSystem.statIfPresent(path) else { return }
        guard info.isDirectory else {
            throw SlotError(.io, "data directory '\(path)' is not a directory")
        }
        for name in try FileSystem.contentsOfDirectory(path) {
            try FileSystem.removeTree(path + "/" + name)
        }
        try FileSystem.syncDirectory(path)
    }
}
