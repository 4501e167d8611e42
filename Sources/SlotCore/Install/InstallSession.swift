import Glibc
import SlotCodec

/// What an install asks for: the slot (nil: the inactive one), whether it
/// provisions a readonly slot, what the image must match, and whether the
/// payload is gzip (decided once by whoever knows: the file's magic, the
/// release's `compression`).
public struct InstallRequest: Sendable {
    public var slot: SlotName?
    public var provision: Bool
    public var expectations: InstallExpectations
    public var gzip: Bool

    public init(slot: SlotName? = nil, provision: Bool = false, expectations: InstallExpectations = .init(), gzip: Bool = false) {
        self.slot = slot
        self.provision = provision
        self.expectations = expectations
        self.gzip = gzip
    }
}

/// Where payload bytes come from when the session pulls them: a file or
/// standard input, or R's slot during a factory reset. (The network pushes
/// its bytes with ``InstallSession/write(_:)``.) 0 means the end.
public protocol ByteSource {
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(SlotError) -> Int
}

extension FileDescriptor: ByteSource {}

/// The first `size` bytes of a descriptor, read with `pread`.
public struct BoundedReader: ByteSource {
    let descriptor: FileDescriptor
    public private(set) var position: UInt64 = 0
    let size: UInt64

    public init(_ descriptor: FileDescriptor, size: UInt64) {
        self.descriptor = descriptor
        self.size = size
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(SlotError) -> Int {
        let wanted = Int(min(UInt64(buffer.count), size - position))
        guard wanted > 0 else { return 0 }
        let n = try descriptor.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<wanted]), at: position)
        position += UInt64(n)
        return n
    }
}

/// One install into one slot, from "installing" to "ready".
///
/// ``SlotManager/install(_:state:feed:)`` is the only way in: it begins (the
/// install lock, one install at a time; the target marked installing with
/// priority 0 and persisted, so from here until ``finish()`` persists
/// "ready" the slot cannot be booted whatever happens), lets a source feed
/// the bytes, then finishes or abandons. The state lock is held only for the
/// two short transactions, so `mark-good` and the boot hook never wait for
/// an install.
public final class InstallSession {
    public let slot: SlotName
    public let expectations: InstallExpectations
    let writer: ImageWriter
    private let store: StateStore
    private let maxTries: Int
    private let installLock: FileLock
    private let decoder: PayloadDecoder
    private var done = false

    private init(
        slot: SlotName, expectations: InstallExpectations, writer: ImageWriter, store: StateStore, maxTries: Int,
        installLock: FileLock, decoder: PayloadDecoder
    ) {
        self.slot = slot
        self.expectations = expectations
        self.writer = writer
        self.store = store
        self.maxTries = maxTries
        self.installLock = installLock
        self.decoder = decoder
    }

    deinit {
        if !done { abandon(because: SlotError(.cancelled, "install abandoned")) }
    }

    public static func installLockPath(_ config: SystemConfig) -> String { config.stateDirectory + "/install.lock" }

    /// Opens `target`, checks what can be checked without image bytes, marks
    /// it installing. `stillValid` re-checks the target against the state
    /// read under the state lock (a boot decision may have happened since).
    static func begin(
        _ request: InstallRequest, target: SlotName, config: SystemConfig, store: StateStore, state: SystemState,
        installLock: FileLock, sha256: SHA256Factory?, stillValid: (SystemState) throws(SlotError) -> Void
    ) throws(SlotError) -> InstallSession {
        let expectations = request.expectations
        var options = ImageWriter.Options()
        options.expectedSize = expectations.size
        if expectations.sha256 != nil {
            guard let sha256 else {
                throw SlotError(.usage, "this program cannot compute SHA-256, which the image's manifest asks for")
            }
            options.sha256 = sha256
        }
        let decoder = try PayloadDecoder(format: request.gzip ? .gzip : .raw)
        let destination = try ImageDestination.open(config.slot(target))
        do throws(SlotError) {
            try expectations.checkBeforeWriting(config: config, state: state, capacity: destination.capacity)
            try store.transaction { (state) throws(SlotError) in
                try stillValid(state)
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
        return InstallSession(
            slot: target, expectations: expectations, writer: ImageWriter(destination: destination, options: options),
            store: store, maxTries: config.maxTries, installLock: installLock, decoder: decoder)
    }

    /// Feeds payload bytes (raw or gzip, as the request said).
    public func write(_ payload: UnsafeRawBufferPointer) throws(SlotError) {
        try decoder.feed(payload, into: writer)
    }

    /// Pulls a source dry, reporting the payload bytes consumed every 8 MiB
    /// and at the end. Raw payloads are read straight into the writer's
    /// pipeline memory; gzip goes through the decoder. Returns the total.
    @discardableResult
    public func pump(_ source: inout some ByteSource, progress: ((UInt64) -> Void)? = nil) throws(SlotError) -> UInt64 {
        var consumed: UInt64 = 0
        var reported: UInt64 = 0
        func report() {
            guard let progress, consumed - reported >= 8 << 20 else { return }
            reported = consumed
            progress(consumed)
        }
        if decoder.isRaw {
            while try writer.fill({ (space) throws(SlotError) -> Int in
                let n = try source.read(into: space)
                consumed += UInt64(n)
                return n
            }) {
                report()
            }
        } else {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                let n = try source.read(into: buffer)
                if n == 0 { break }
                try write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                consumed += UInt64(n)
                report()
            }
        }
        progress?(consumed)
        return consumed
    }

    /// Per-stage times of the writer, for `SLOTCTL_TRACE`.
    public var stageTimings: ImageWriter.StageTimings { writer.stageTimings }

    /// Ends the stream: verifies, records the image (and the release it
    /// came from) and makes the slot ready and the next to boot (R:
    /// provisioned, never activated), in one state transaction.
    func finish() throws(SlotError) -> SlotRecord {
        try decoder.finish()
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
        let slot = self.slot
        let expectations = self.expectations
        let maxTries = self.maxTries
        let written = try store.transaction { (state) throws(SlotError) in
            guard state[slot].status == .installing else {
                throw SlotError(.stateChanged, "slot \(slot) was changed to \(state[slot].status.rawValue) while the image was written; it stays unbootable")
            }
            var record = state[slot]
            record.status = .ready
            record.version = expectations.version
            record.release = expectations.release
            record.size = result.size
            record.crc32 = result.crc32
            record.sha256 = result.sha256
            record.fstype = fstype
            record.installed = Timestamp.nowSeconds()
            record.boots = 0  // the boots of this image, not of the one it replaced
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
    }

    /// Stops writing and records the failure; the slot stays unbootable.
    func abandon(because error: SlotError) {
        guard !done else { return }
        done = true
        writer.abort()
        let slot = self.slot
        _ = try? store.transaction { (state) throws(SlotError) in
            guard state[slot].status == .installing else { return }
            state[slot].markBad("install failed: \(error.message)")
            state.record(.installFailed, slot: slot, error.message)
        }
        installLock.release()
    }
}

/// A slot that now holds a verified image.
public struct InstalledImage: Sendable {
    public let slot: SlotName
    public let record: SlotRecord
}

extension SlotManager {
    /// The one install sequence, whatever the source (a file, standard
    /// input, R's slot, the network): take the install lock, choose the
    /// target from `state` (read here when not given), begin, let `feed`
    /// stream the payload into the session, then finish, or abandon on any
    /// failure (the slot stays unbootable, the booted one untouched).
    @discardableResult
    public func install(
        _ request: InstallRequest, state known: SystemState? = nil, feed: (InstallSession) throws(SlotError) -> Void
    ) throws(SlotError) -> InstalledImage {
        let lock = try FileLock.acquire(path: InstallSession.installLockPath(config), timeout: 0, what: "installing")
        let session: InstallSession
        do throws(SlotError) {
            let state: SystemState
            if let known { state = known } else { state = try store.load() }
            let detected = BootedSlot.detect(config: config)
            let target = try installTarget(requested: request.slot, provision: request.provision, booted: detected ?? state.booted?.slot, state: state)
            session = try InstallSession.begin(
                request, target: target, config: config, store: store, state: state, installLock: lock, sha256: sha256
            ) { (fresh) throws(SlotError) in
                _ = try installTarget(requested: target, provision: request.provision, booted: detected ?? fresh.booted?.slot, state: fresh)
            }
        } catch {
            lock.release()
            throw error
        }
        do throws(SlotError) {
            try feed(session)
            return InstalledImage(slot: session.slot, record: try session.finish())
        } catch {
            session.abandon(because: error)
            throw error
        }
    }
}
