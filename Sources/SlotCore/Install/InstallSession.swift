import Glibc

/// One install into one slot, from "installing" to "ready".
///
/// ``begin`` takes the install lock (one install at a time), opens the slot,
/// checks what can be checked without image bytes, then marks the target
/// installing with priority 0 and persists it: from here until ``finish``
/// persists "ready", the slot cannot be booted, whatever happens. The state
/// lock is held only for those two short transactions, so `mark-good` and
/// the boot hook never wait for an install.
public final class InstallSession {
    public let slot: SlotName
    public let expectations: InstallExpectations
    public let writer: ImageWriter
    private let manager: SlotManager
    private let installLock: FileLock
    private let decoder: PayloadDecoder
    private var done = false

    private init(slot: SlotName, expectations: InstallExpectations, writer: ImageWriter, manager: SlotManager, installLock: FileLock, decoder: PayloadDecoder) {
        self.slot = slot
        self.expectations = expectations
        self.writer = writer
        self.manager = manager
        self.installLock = installLock
        self.decoder = decoder
    }

    deinit {
        if !done { abandon(because: SlotError(.cancelled, "install abandoned")) }
    }

    public static func installLockPath(_ config: SystemConfig) -> String { config.stateDirectory + "/install.lock" }

    /// Chooses the target (see ``SlotManager/installTarget(requested:provision:state:)``),
    /// checks it, marks it installing and returns a session ready for bytes.
    public static func begin(
        manager: SlotManager, requested: SlotName?, provision: Bool, expectations: InstallExpectations,
        payload: PayloadDecoder.Format
    ) throws(SlotError) -> InstallSession {
        let config = manager.config
        var options = ImageWriter.Options()
        options.expectedSize = expectations.size
        if expectations.sha256 != nil {
            guard let sha256 = manager.sha256 else {
                throw SlotError(.usage, "this program cannot compute SHA-256, which the image's manifest asks for")
            }
            options.sha256 = sha256
        }
        let lock = try FileLock.acquire(path: installLockPath(config), timeout: 0, what: "installing")
        do throws(SlotError) {
            let state = try manager.store.load()
            let target = try manager.installTarget(requested: requested, provision: provision, state: state)
            let destination = try ImageDestination.open(config.slot(target))
            do throws(SlotError) {
                try expectations.checkBeforeWriting(config: config, state: state, capacity: destination.capacity)
                try manager.store.transaction { (state) throws(SlotError) in
                    // Re-check under the lock: a boot decision may have happened since.
                    _ = try manager.installTarget(requested: target, provision: provision, state: state)
                    state[target].status = .installing
                    state[target].priority = 0
                    state[target].tries = 0
                    state[target].clearImage()
                    state.record(.installing, slot: target, "installing \(expectations.version ?? "an image")")
                }
            } catch {
                destination.discard()
                throw error
            }
            FailPoint.hit("install-marked-installing")
            let writer = ImageWriter(destination: destination, options: options)
            return InstallSession(
                slot: target, expectations: expectations, writer: writer, manager: manager, installLock: lock,
                decoder: PayloadDecoder(format: payload))
        } catch {
            lock.release()
            throw error
        }
    }

    /// Feeds payload bytes (raw or gzip, as the session was told).
    public func write(_ payload: UnsafeRawBufferPointer) throws(SlotError) {
        try decoder.feed(payload, into: writer)
    }

    /// The fast path for raw images: `read` fills pipeline memory directly.
    public func fill(_ read: (UnsafeMutableRawBufferPointer) throws(SlotError) -> Int) throws(SlotError) -> Bool {
        try writer.fill(read)
    }

    /// Ends the stream: verifies, makes the slot ready and the next to boot
    /// (R: provisioned, never activated), and returns its record.
    @discardableResult
    public func finish() throws(SlotError) -> SlotRecord {
        do throws(SlotError) {
            try decoder.finish(into: writer)
            let result = try writer.finish()
            guard result.size > 0 else {
                throw SlotError(.badImage, "the image is empty (0 bytes after decompression)")
            }
            if let trace = getenv("SLOTCTL_TRACE"), trace.pointee != 0 {
                var line = "slotctl: trace: \(result.size) bytes: \(writer.stageTimings)\n"
                line.withUTF8 { _ = Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
            }
            try expectations.checkAfterWriting(result)
            FailPoint.hit("install-verified")
            try writer.destination.commit()
            let fstype: String? = writer.destination.kind == .blockDevice || writer.destination.kind == .regularFile
                ? BlockProbe.filesystemType(writer.destination.path) : nil
            let maxTries = manager.config.maxTries
            let slot = self.slot
            let expectations = self.expectations
            let written = try manager.store.transaction { (state) throws(SlotError) in
                guard state[slot].status == .installing else {
                    throw SlotError(.stateChanged, "slot \(slot) was changed to \(state[slot].status.rawValue) while the image was written; it stays unbootable")
                }
                var record = state[slot]
                record.status = .ready
                record.version = expectations.version
                record.size = result.size
                record.crc32 = result.crc32
                record.sha256 = result.sha256
                record.fstype = fstype
                record.installed = StateClock.now()
                record.badReason = nil
                if slot == .R {
                    record.priority = 0
                    record.tries = 0
                } else {
                    record.priority = state.topPriority(excluding: slot)
                    record.tries = maxTries
                }
                state[slot] = record
                if let floor = expectations.securityVersion { state.securityVersion = max(state.securityVersion, floor) }
                state.record(.installed, slot: slot, "installed \(expectations.version ?? "image") (\(result.size) bytes, crc32 \(CRC32.hex(result.crc32)))")
            }
            done = true
            installLock.release()
            return written[slot]
        } catch {
            abandon(because: error)
            throw error
        }
    }

    /// Stops writing and records the failure; the slot stays unbootable.
    public func abandon(because error: SlotError) {
        guard !done else { return }
        done = true
        writer.abort()
        let slot = self.slot
        _ = try? manager.store.transaction { (state) throws(SlotError) in
            guard state[slot].status == .installing else { return }
            state[slot].markBad("install failed: \(error.message)")
            state.record(.installFailed, slot: slot, error.message)
        }
        installLock.release()
    }
}
