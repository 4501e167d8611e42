import Crypto
import FoundationEssentials
import Glibc
import SlotCodec
import SlotCore
import SlotWire
import Synchronization

/// The device side of updates: asks the server, verifies what it offers,
/// streams the payload straight into the inactive slot and reports back.
///
/// Thread-safe: `progress` and `cancel()` may be called from any thread
/// while an update runs; one update runs at a time.
public final class UpdateEngine: Sendable {
    public let manager: SlotManager
    public let clientId: String
    public let api: UpdateServerAPI
    public let verifier: ReleaseVerifier
    /// Set with `[update] server-key`: every answer must be fresh.
    public let freshness: FreshnessCheck?
    public let channel: String
    let events: EventQueue
    private let current = Mutex(UpdateProgress(state: .idle))
    private let cancelRequested = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)
    public let downloadOptions: PayloadDownloader.Options

    public init(manager: SlotManager, downloadOptions: PayloadDownloader.Options = .init()) throws(SlotError) {
        let config = manager.config
        guard let server = config.update.server else {
            throw SlotError(.invalidConfig, "\(config.path): [update] server is not set")
        }
        self.manager = manager
        let identity = try DeviceIdentity(config: config)
        self.api = try UpdateServerAPI(server: server, caFile: try Self.checkedCA(config.update.caPath), identity: identity)
        self.verifier = ReleaseVerifier(compatible: config.compatible, publicKey: try ReleaseVerifier.loadPublicKey(path: config.update.publicKeyPath))
        self.freshness = config.update.serverKeyPath == nil ? nil : try FreshnessCheck(config: config)
        self.clientId = identity.clientId
        self.channel = config.update.channel
        self.events = EventQueue(config: config)
        self.downloadOptions = downloadOptions
    }

    /// `[update] ca`, readable now: a typo is a config error at the start,
    /// not a TLS failure at the first request.
    static func checkedCA(_ path: String?) throws(SlotError) -> String? {
        guard let path else { return nil }
        let text: [UInt8]
        do {
            text = try FileSystem.readFile(path, limit: 1 << 20)
        } catch {
            throw SlotError(.invalidConfig, "[update] ca: cannot read '\(path)'", cause: error.cause)
        }
        guard String(decoding: text, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----") else {
            throw SlotError(.invalidConfig, "[update] ca: '\(path)' holds no PEM certificate")
        }
        return path
    }

    // MARK: - State

    public var progress: UpdateProgress { current.withLock { $0 } }

    public var isRunning: Bool { running.load(ordering: .acquiring) }

    /// Stops a running update as soon as possible; the target slot is left
    /// unbootable and the booted one untouched.
    public func cancel() {
        cancelRequested.store(true, ordering: .releasing)
    }

    private func set(_ change: (inout UpdateProgress) -> Void, notify observer: ((UpdateProgress) -> Void)?) {
        let snapshot = current.withLock { progress -> UpdateProgress in
            change(&progress)
            return progress
        }
        observer?(snapshot)
    }

    // MARK: - Versions

    /// The version of the booted slot, as recorded when it was installed.
    public func currentVersion() -> String? {
        guard let state = try? manager.store.load(), let booted = manager.bootedSlot(state: state) else { return nil }
        return state[booted].version
    }

    // MARK: - Checking

    /// Reports queued events, then asks the server. A release that does not
    /// verify is an error, not an offer.
    public func check() async throws(SlotError) -> Release? {
        try await check(state: try manager.store.load())
    }

    /// ``check()`` against a state already read: an update reads it once.
    func check(state: SystemState) async throws(SlotError) -> Release? {
        await flushEvents(state: state)
        let booted = manager.bootedSlot(state: state)
        let version = booted.flatMap { state[$0].version } ?? ""
        let request = CheckRequest(clientId: clientId, compatible: manager.config.compatible, channel: channel, version: version, slot: booted?.rawValue ?? "")
        let answer = try await api.check(request)
        // A stale "nothing new" is refused like a stale offer: freezing a device is the attack.
        try freshness?.accept(answer.freshness)
        guard let release = answer.release else { return nil }
        try verifier.verify(release, securityFloor: state.securityVersion)
        if release.version == version { return nil }
        return release
    }

    /// Turns new boot-hook events into device events and sends everything
    /// queued. Failures keep the queue for next time.
    public func flushEvents(state: SystemState? = nil) async {
        if let state = state ?? (try? manager.store.load()) {
            try? BootEventReporter(config: manager.config, clientId: clientId).collect(from: state, into: events)
        }
        let pending = events.pending()
        guard !pending.isEmpty else { return }
        for batch in stride(from: 0, to: pending.count, by: 100) {
            let slice = Array(pending[batch..<min(batch + 100, pending.count)])
            do {
                // Delivered or refused for good: either way it leaves the queue.
                _ = try await api.report(slice)
                try events.drop(slice.count)
            } catch {
                return
            }
        }
    }

    func queue(_ type: DeviceEventType, release: Release?, detail: String?) {
        try? events.append([DeviceEvent(clientId: clientId, releaseId: release?.id, type: type, detail: detail, at: Timestamp.iso8601(seconds: Timestamp.nowSeconds()))])
    }

    // MARK: - Updating

    public enum Outcome: Sendable {
        case upToDate
        case installed(Release, SlotName)
    }

    /// Checks, downloads and installs, calling `observer` on every state
    /// change and progress step. Ends ready to reboot: it never reboots.
    @discardableResult
    public func update(observer: (@Sendable (UpdateProgress) -> Void)? = nil) async throws(SlotError) -> Outcome {
        guard claim() else { throw SlotError(.lockHeld, "an update is already running") }
        defer { running.store(false, ordering: .releasing) }
        cancelRequested.store(false, ordering: .releasing)
        return try await perform(observer: observer)
    }

    /// Starts an update in the background and returns at once; false when
    /// one is already running. A `cancel()` right after it returns counts.
    @discardableResult
    public func start() -> Bool {
        guard claim() else { return false }
        cancelRequested.store(false, ordering: .releasing)
        set({ $0 = UpdateProgress(state: .checking) }, notify: nil)
        Task.detached { [self] in
            defer { running.store(false, ordering: .releasing) }
            _ = try? await perform(observer: nil)
        }
        return true
    }

    /// One update at a time: claimed before any work, released at the end.
    private func claim() -> Bool {
        running.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    private func perform(observer: (@Sendable (UpdateProgress) -> Void)?) async throws(SlotError) -> Outcome {
        set({ $0 = UpdateProgress(state: .checking) }, notify: observer)
        do throws(SlotError) {
            if cancelRequested.load(ordering: .acquiring) { throw SlotError(.cancelled, "update cancelled") }
            let state = try manager.store.load()
            guard let release = try await check(state: state) else {
                set({ $0.state = .upToDate }, notify: observer)
                return .upToDate
            }
            if cancelRequested.load(ordering: .acquiring) { throw SlotError(.cancelled, "update cancelled") }
            // Already installed and waiting for a reboot (a daemon checking
            // again before the reboot): nothing to download.
            if let slot = alreadyInstalled(release, state: state) {
                set({
                    $0.version = release.version
                    $0.releaseId = release.id
                    $0.state = .readyToReboot
                }, notify: observer)
                return .installed(release, slot)
            }
            let slot = try await install(release, state: state, observer: observer)
            set({ $0.state = .readyToReboot }, notify: observer)
            return .installed(release, slot)
        } catch {
            let cancelled = error.code == .cancelled
            set({
                $0.state = cancelled ? .cancelled : .failed
                $0.error = error
            }, notify: observer)
            throw error
        }
    }

    /// The inactive slot, if it already holds exactly this release, verified.
    func alreadyInstalled(_ release: Release, state: SystemState) -> SlotName? {
        guard let target = try? manager.installTarget(requested: nil, provision: false, booted: manager.bootedSlot(state: state), state: state) else { return nil }
        let record = state[target]
        guard record.status.holdsVerifiedImage, record.release == release.id, record.version == release.version,
            record.sha256 == release.sha256.lowercased(), record.size == release.size,
            BootSelector.preview(state) == target
        else { return nil }
        return target
    }

    /// Streams a verified release into the inactive slot. The blocking work
    /// runs on its own thread, off Swift's cooperative pool.
    private func install(_ release: Release, state: SystemState, observer: (@Sendable (UpdateProgress) -> Void)?) async throws(SlotError) -> SlotName {
        try await WorkerThread.run { [self] () throws(SlotError) in try installBlocking(release, state: state, observer: observer) }
    }

    private func installBlocking(_ release: Release, state: SystemState, observer: (@Sendable (UpdateProgress) -> Void)?) throws(SlotError) -> SlotName {
        guard let url = URL(string: release.url, relativeTo: api.baseURL)?.absoluteURL else {
            throw SlotError(.badManifest, "release \(release.id) has an unusable url '\(release.url)'")
        }
        let downloader = PayloadDownloader(url: url, payloadSize: release.payloadSize, client: try HTTPClient(caFile: api.caFile), options: downloadOptions) { [self] in
            cancelRequested.load(ordering: .acquiring)
        }
        if let delta = try prepareDelta(release, state: state, downloader: downloader, observer: observer) {
            do throws(SlotError) {
                return try installDelta(release, delta, state: state, downloader: downloader, observer: observer)
            } catch where error.code == .checksumMismatch {
                // Every chunk matched its 64-bit hash yet the image is not the
                // signed one: a hash collision or a lying index. The full
                // payload does not depend on either.
                try? FileDescriptor.standardError.write(Array("slotctl: the image rebuilt from chunks failed its final check (\(error.message)); downloading in full\n".utf8))
            }
        }
        let request = InstallRequest(expectations: expectations(release), gzip: release.compression == .gzip)
        var lastReport: UInt64 = 0
        let installed: InstalledImage
        do throws(SlotError) {
            installed = try manager.install(request, state: state) { (session) throws(SlotError) in
                // The target's kept digests describe what is being overwritten.
                InstalledDigests.remove(session.slot, config: manager.config)
                set({
                    $0.state = .downloading
                    $0.bytesTotal = release.payloadSize
                    $0.version = release.version
                    $0.releaseId = release.id
                }, notify: observer)
                try downloader.run(
                    consume: { (bytes) throws(SlotError) in try session.write(bytes) },
                    progress: { done in
                        // Progress steps of 1 MiB keep observers cheap.
                        if done - lastReport >= 1 << 20 || done == release.payloadSize {
                            lastReport = done
                            set({ $0.bytesDone = done }, notify: observer)
                        }
                    })
                queue(.downloaded, release: release, detail: "\(release.payloadSize) bytes")
                set({ $0.state = .installing }, notify: observer)
                if cancelRequested.load(ordering: .acquiring) { throw SlotError(.cancelled, "update cancelled") }
                if let trace = getenv("SLOTCTL_TRACE"), trace.pointee != 0 {
                    let waiting = Int((downloader.transferSeconds - downloader.consumeSeconds) * 1000)
                    try? FileDescriptor.standardError.write(Array("slotctl: trace: download: \(downloader.requests) requests, \(downloader.callbacks) callbacks, waiting for data \(waiting) ms, handing to the writer \(Int(downloader.consumeSeconds * 1000)) ms; writer: \(session.stageTimings)\n".utf8))
                }
            }
        } catch {
            if error.code != .cancelled {
                queue(.failed, release: release, detail: error.description)
            }
            throw error
        }
        queue(.installed, release: release, detail: "slot \(installed.slot.rawValue)")
        return installed.slot
    }

    private func expectations(_ release: Release) -> InstallExpectations {
        InstallExpectations(
            version: release.version, release: release.id, compatible: release.compatible,
            securityVersion: release.securityVersion, size: release.size, crc32: CRC32.parse(release.crc32),
            sha256: release.sha256)
    }

    // MARK: - Delta updates

    /// What a delta install needs, decided before the target is touched.
    struct DeltaStart {
        let plan: DeltaInstaller.Plan
        let multiRange: MultiRangeFetcher?
        let target: SlotName
        let booted: SlotDefinition?
    }

    /// The release's chunk index, fetched and verified, and the plan of where
    /// each chunk comes from; nil (with the reason on standard error) when
    /// the update must download the whole payload: no index, `delta = no`, a
    /// directory slot, an index that does not verify, a server that ignores
    /// `Range`. None of these is an error: the full download checks as much.
    private func prepareDelta(
        _ release: Release, state: SystemState, downloader: PayloadDownloader, observer: (@Sendable (UpdateProgress) -> Void)?
    ) throws(SlotError) -> DeltaStart? {
        let config = manager.config
        guard config.update.delta, let reference = release.index else { return nil }
        let bootedName = manager.bootedSlot(state: state)
        guard let target = try? manager.installTarget(requested: nil, provision: false, booted: bootedName, state: state),
            case .block = config.slot(target).storage
        else { return nil }
        func fullDownload(_ reason: String) -> DeltaStart? {
            try? FileDescriptor.standardError.write(Array("slotctl: delta update not possible, downloading in full: \(reason)\n".utf8))
            return nil
        }
        let data: [UInt8]
        do throws(SlotError) {
            data = try fetchIndex(reference, release: release)
        } catch {
            if error.code == .cancelled { throw error }
            return fullDownload(error.message)
        }
        let index: ChunkIndex
        do throws(WireError) {
            index = try ChunkIndex(parsing: data)
        } catch {
            return fullDownload("the chunk index is malformed: \(error.message)")
        }
        guard index.matches(release.manifest) else { return fullDownload("the chunk index describes another image or payload") }
        do throws(SlotError) {
            try downloader.run(range: 0..<1, consume: { _ in }, progress: { _ in })
        } catch {
            if error.code == .cancelled { throw error }
            return fullDownload(error.message)
        }
        var booted: (SlotDefinition, SlotRecord)?
        if let bootedName, bootedName != target, state[bootedName].status.holdsVerifiedImage {
            booted = (config.slot(bootedName), state[bootedName])
        }
        let multiRange = MultiRangeFetcher(url: downloader.url.absoluteString, payloadSize: release.payloadSize, client: try HTTPClient(caFile: api.caFile)) { [self] in
            cancelRequested.load(ordering: .acquiring)
        }
        let multiple = multiRange.probe()
        let plan = try DeltaInstaller.plan(
            index: index, booted: booted, target: config.slot(target), config: config, multiRange: multiple,
            scanning: { [self] slot in
                set({
                    $0.state = .downloading
                    $0.detail = "hashing slot \(slot) to find the chunks it shares with \(release.version) (no stored block digests for this release's block size)"
                }, notify: observer)
            },
            isCancelled: { [self] in cancelRequested.load(ordering: .acquiring) })
        return DeltaStart(plan: plan, multiRange: multiple ? multiRange : nil, target: target, booted: booted?.0)
    }

    /// GETs the index and checks it against the signed reference: size,
    /// SHA-256 and the release key's signature over both and the manifest.
    private func fetchIndex(_ reference: ChunkIndexReference, release: Release) throws(SlotError) -> [UInt8] {
        guard reference.size > 0, reference.size <= ChunkIndexReference.maxSize else {
            throw SlotError(.badManifest, "the chunk index's size \(reference.size) is out of bounds")
        }
        // Without a release key nothing is verified, as for the release itself.
        if let key = verifier.publicKey,
            !ReleaseSignature.isValid(
                reference.signature, for: release.manifest.indexSigningBytes(sha256: reference.sha256, size: reference.size), publicKeyBase64: key)
        {
            throw SlotError(.badSignature, "the chunk index's signature does not verify against the release key")
        }
        guard let url = URL(string: reference.url, relativeTo: api.baseURL)?.absoluteURL else {
            throw SlotError(.badManifest, "the chunk index has an unusable url '\(reference.url)'")
        }
        let client = try HTTPClient(caFile: api.caFile)
        let head: HTTPClient.Head
        let data: [UInt8]
        do throws(HTTPClient.Failure) {
            (head, data) = try client.fetch(HTTPClient.Request(.get, url.absoluteString, timeout: 120), limit: Int(reference.size))
        } catch {
            switch error {
            case .refused(let refusal): throw refusal
            case .transport(let message, _): throw SlotError(.network, "fetching the chunk index failed: \(message)")
            }
        }
        guard head.status == 200 else { throw SlotError(.network, "the chunk index at \(url.absoluteString) answered HTTP \(head.status)") }
        guard UInt64(data.count) == reference.size, Hex.string(SHA256.hash(data: data)) == reference.sha256.lowercased() else {
            throw SlotError(.badImage, "the chunk index fetched is not the one the release signed (size or SHA-256 differ)")
        }
        return data
    }

    private func installDelta(
        _ release: Release, _ delta: DeltaStart, state: SystemState, downloader: PayloadDownloader,
        observer: (@Sendable (UpdateProgress) -> Void)?
    ) throws(SlotError) -> SlotName {
        let config = manager.config
        let request = InstallRequest(slot: delta.target, expectations: expectations(release), gzip: false)
        InstalledDigests.remove(delta.target, config: config)
        let installed: InstalledImage
        var summary = ""
        var digests: [UInt8] = []
        do throws(SlotError) {
            installed = try manager.install(request, state: state) { (session) throws(SlotError) in
                let rebuilder = try DeltaInstaller(plan: delta.plan, downloader: downloader, multiRange: delta.multiRange, booted: delta.booted, target: config.slot(session.slot))
                set({
                    $0.state = .downloading
                    $0.detail = nil
                    $0.bytesTotal = release.size
                    $0.version = release.version
                    $0.releaseId = release.id
                }, notify: observer)
                var lastReport: UInt64 = 0
                try rebuilder.run(
                    emit: { (bytes) throws(SlotError) in try session.write(bytes) },
                    progress: { done in
                        guard done - lastReport >= 1 << 20 || done == release.size else { return }
                        lastReport = done
                        let tally = rebuilder.tally
                        set({
                            $0.bytesDone = done
                            $0.bytesReused = tally.reused
                            $0.bytesFetched = tally.fetchedPayload
                        }, notify: observer)
                    },
                    isCancelled: { [self] in cancelRequested.load(ordering: .acquiring) })
                digests = rebuilder.digests
                summary = "delta: \(rebuilder.tally) (\(delta.multiRange == nil ? "one range" : "up to \(MultiRangeFetcher.maxRanges) ranges") per request); booted slot's chunks: \(delta.plan.bootedIndexing)"
                queue(.downloaded, release: release, detail: summary)
                set({ $0.state = .installing }, notify: observer)
                if cancelRequested.load(ordering: .acquiring) { throw SlotError(.cancelled, "update cancelled") }
            }
        } catch {
            // A final check that failed is retried in full; only that attempt reports.
            if error.code != .cancelled && error.code != .checksumMismatch { queue(.failed, release: release, detail: error.description) }
            throw error
        }
        if let trace = getenv("SLOTCTL_TRACE"), trace.pointee != 0 {
            try? FileDescriptor.standardError.write(Array("slotctl: trace: \(summary)\n".utf8))
        }
        // Kept for the next update; without them that update hashes this slot once.
        try? InstalledDigests.save(
            digests, blockSize: delta.plan.index.blockSize, imageSize: release.size, sha256: release.sha256, slot: installed.slot, config: config)
        queue(.installed, release: release, detail: "slot \(installed.slot.rawValue)")
        return installed.slot
    }
}
