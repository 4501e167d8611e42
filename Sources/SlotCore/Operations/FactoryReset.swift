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
        let expectations = InstallExpectations(
            version: recovery.version, size: size, crc32: crc, sha256: recovery.sha256)
        let session = try InstallSession.begin(manager: self, requested: nil, provision: false, expectations: expectations, payload: .raw)
        let target = session.slot
        do throws(SlotError) {
            let source = try SlotReader.open(config.slot(.R))
            defer { source.close() }
            var position: UInt64 = 0
            while position < size {
                let more = try session.fill { (space) throws(SlotError) -> Int in
                    let wanted = Int(min(UInt64(space.count), size - position))
                    let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: space[0..<wanted]), at: position)
                    position += UInt64(n)
                    return n
                }
                if !more {
                    throw SlotError(.sizeMismatch, "R ends after \(position) bytes, its image has \(size)")
                }
                progress?(position, size)
            }
            try session.finish()
        } catch {
            session.abandon(because: error)
            if error.code == .checksumMismatch {
                throw SlotError(.checksumMismatch, "R's image does not match its recorded CRC32; factory reset refused", cause: error)
            }
            throw error
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
