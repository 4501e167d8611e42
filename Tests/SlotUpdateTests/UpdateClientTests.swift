import SlotCodec
import Foundation
import SlotCore
import SlotCrypto
import SlotTestSupport
import SlotUpdate
import SlotWire
import Testing

/// The update client against a real HTTP server on loopback that misbehaves
/// on demand (Tests/Fixtures/update_fixture.py).
@Suite(.serialized) struct UpdateClientTests {
    struct Device {
        let box: Sandbox
        let server: FixtureServer
        let keys: (privateKey: String, publicKey: String)
        let engine: UpdateEngine
        let v1: [UInt8]
    }

    /// A device running 1.0 from A (good), R provisioned, talking to a fresh fixture.
    /// With `tls`, the device talks to the fixture over HTTPS with that
    /// certificate, and pins `pin` (a CA file) when given.
    func device(
        slotSize: Int = 8 << 20, segment: UInt64? = nil, signed: Bool = true, tls: ThrowawayCA? = nil, pin: String? = nil,
        serverKey: String? = nil
    ) throws -> Device {
        let server = try FixtureServer(tls: tls.map { ($0.certFile, $0.keyFile) })
        let keys = ReleaseSignature.generateKeyPair()
        let box = try Sandbox(slotSize: slotSize, extra: """
            [update]
            server = \(server.tlsBase ?? server.base)
            channel = beta
            \(signed ? "public-key = release.pub" : "")
            \(pin.map { "ca = \($0)" } ?? "")
            \(serverKey.map { _ in "server-key = online.pub" } ?? "")
            """)
        if let serverKey { box.dir.write("online.pub", serverKey + "\n") }
        box.dir.write("release.pub", keys.publicKey + "\n")
        let manager = box.manager
        try manager.initialize(force: false)
        let factory = box.image("factory.img", size: 1 << 20, seed: 51)
        try manager.install(.file(factory.path), slot: .R, provision: true, expectations: .init(version: "factory"))
        let v1 = box.image("v1.img", size: 1 << 20, seed: 52)
        try manager.install(.file(v1.path), slot: .A, expectations: .init(version: "1.0"))
        #expect(manager.boot(dryRun: false).assignments.slot == .A)
        try manager.markGood()
        var options = PayloadDownloader.Options()
        if let segment { options.segmentSize = segment }
        options.backoffBase = 0.05
        options.backoffMax = 0.3
        options.maxAttempts = 30  // rides out a fixture restart on a loaded machine
        let engine = try UpdateEngine(manager: SlotManager(config: box.config, sha256: CryptoSHA256.factory), downloadOptions: options)
        return Device(box: box, server: server, keys: keys, engine: engine, v1: v1.bytes)
    }

    /// Publishes `image` on the fixture as a signed release.
    @discardableResult
    func publish(
        _ device: Device, _ image: [UInt8], version: String, gzip: Bool = false, securityVersion: UInt64 = 0,
        compatible: String = "test-board", signWith key: String? = nil, served: [UInt8]? = nil, id: String = "rel-1"
    ) throws -> Release {
        let payload = gzip ? gzipCompress(image) : image
        var sha = CryptoSHA256()
        image.withUnsafeBytes { sha.update($0) }
        let manifest = ReleaseManifest(
            compatible: compatible, version: version, securityVersion: securityVersion, size: UInt64(image.count),
            crc32: CRC32.hex(CRC32.checksum(image)), sha256: sha.finalizeHex(), compression: gzip ? .gzip : .none,
            payloadSize: UInt64(payload.count))
        let signature = try ReleaseSignature.sign(manifest, privateKeyBase64: key ?? device.keys.privateKey)
        let path = try device.server.addPayload("\(id).bin", served ?? payload)
        let release = Release(id: id, manifest: manifest, url: path, signature: signature)
        try device.server.setRelease(release)
        return release
    }

    func expectUnchanged(_ device: Device, _ context: String = "") throws {
        #expect(device.box.slotBytes("a.img", count: device.v1.count) == device.v1, "booted slot changed \(context)")
        #expect(BootSelector.preview(try device.box.manager.store.load()) == .A, "\(context)")
    }

    func expectFailure(_ code: SlotError.Code, _ text: String, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected \(code)")
        } catch let error as SlotError {
            #expect(error.code == code, "\(error)")
            #expect(error.description.contains(text), "\(error.description)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func checkSaysYesOrNoAndSendsWhoWeAre() async throws {
        let device = try device()
        #expect(try await device.engine.check() == nil)
        let release = try publish(device, patternBytes(100_000, seed: 53), version: "2.0")
        #expect(try await device.engine.check() == release)
        let checks = try device.server.log().checks
        #expect(checks.count == 2)
        #expect(checks[0].clientId == device.engine.clientId)
        #expect(checks[0].version == "1.0" && checks[0].slot == "A" && checks[0].channel == "beta" && checks[0].compatible == "test-board")
        // The client id is stable across engines (it lives in the state directory).
        let again = try UpdateEngine(manager: device.box.manager)
        #expect(again.clientId == device.engine.clientId)
        #expect(UUID(uuidString: device.engine.clientId) != nil)
    }

    @Test(arguments: [false, true])
    func updateStreamsIntoTheInactiveSlot(gzip: Bool) async throws {
        let device = try device(segment: 1 << 20)
        let image = patternBytes((5 << 20) + 77, seed: 54)
        let release = try publish(device, image, version: "2.0", gzip: gzip, securityVersion: 3)
        let states = StateLog()
        let outcome = try await device.engine.update { states.add($0) }
        guard case .installed(let installed, let slot) = outcome else { Issue.record("not installed"); return }
        #expect(installed == release && slot == .B)
        #expect(device.box.slotBytes("b.img", count: image.count) == image)
        let state = try device.box.manager.store.load()
        #expect(state[.B].status == .ready && state[.B].version == "2.0")
        #expect(state.securityVersion == 3)
        #expect(BootSelector.preview(state) == .B)
        #expect(device.engine.progress.state == .readyToReboot)
        let seen = states.states
        #expect(seen.first == .checking && seen.last == .readyToReboot)
        #expect(seen.contains(.downloading) && seen.contains(.installing))
        #expect(states.progress.last?.bytesDone == release.payloadSize)
        try expectUnchangedA(device)
        // Events of the update reach the server before the next check.
        _ = try await device.engine.check()
        let events = try device.server.log().events.filter { $0.releaseId == release.id }
        #expect(events.map(\.type).contains(.downloaded) && events.map(\.type).contains(.installed))
        // Segmented: several Range requests, all answered with 206.
        let requests = try device.server.log().payload_requests
        #expect(requests.count >= (gzip ? 1 : 5))
        #expect(requests.allSatisfy { $0.range != nil })
    }

    @Test func refusesABadSignatureBeforeWritingAByte() async throws {
        let device = try device()
        let stranger = ReleaseSignature.generateKeyPair()
        try publish(device, patternBytes(10_000, seed: 55), version: "6.6.6", signWith: stranger.privateKey)
        let before = try device.box.manager.store.load()
        await expectFailure(.badSignature, "not signed by the configured release key") { try await device.engine.update() }
        #expect(try device.box.manager.store.load()[.B] == before[.B], "B untouched")
        #expect(try device.server.log().payload_requests.isEmpty, "no byte downloaded")
        #expect(device.engine.progress.state == .failed)
        #expect(device.engine.progress.error?.exitCode == 3)
    }

    @Test func refusesAnotherCompatibleAndADowngrade() async throws {
        let device = try device()
        try publish(device, patternBytes(10_000, seed: 56), version: "2.0", compatible: "other-board")
        await expectFailure(.incompatible, "is for 'other-board'") { try await device.engine.update() }
        // Raise the floor to 5 with an accepted update, then offer security version 4.
        try publish(device, patternBytes(10_000, seed: 57), version: "2.0", securityVersion: 5, id: "rel-2")
        _ = try await device.engine.update()
        try publish(device, patternBytes(10_000, seed: 58), version: "1.9", securityVersion: 4, id: "rel-3")
        await expectFailure(.downgrade, "below this system's floor 5") { try await device.engine.update() }
        try expectUnchangedA(device)
    }

    func expectUnchangedA(_ device: Device) throws {
        #expect(device.box.slotBytes("a.img", count: device.v1.count) == device.v1)
    }

    @Test func aCorruptedPayloadIsNeverMarkedReady() async throws {
        let device = try device()
        let image = patternBytes(2 << 20, seed: 59)
        var corrupted = image
        corrupted[12345] ^= 0x01
        try publish(device, image, version: "2.0", served: corrupted)
        await expectFailure(.checksumMismatch, "CRC32") { try await device.engine.update() }
        let state = try device.box.manager.store.load()
        #expect(state[.B].status == .bad)
        try expectUnchanged(device)
        _ = try? await device.engine.check()
        #expect(try device.server.log().events.contains { $0.type == .failed })
    }

    @Test func aTruncatedResponseResumesWithRange() async throws {
        let device = try device()
        let image = patternBytes(6 << 20, seed: 60)
        try publish(device, image, version: "2.0")
        try device.server.setMode("truncate-once")
        _ = try await device.engine.update()
        #expect(device.box.slotBytes("b.img", count: image.count) == image)
        let requests = try device.server.log().payload_requests
        #expect(requests.count >= 2)
        #expect(requests[0].mode == "truncate-once")
        // The second request asks for the rest, from where the first stopped (halfway).
        #expect(requests[1].range?.hasPrefix("bytes=\(3 << 20)-") == true, "\(requests.map { $0.range ?? "-" })")
    }

    @Test func aServerThatIgnoresRangeStillWorks() async throws {
        let device = try device(segment: 1 << 20)
        let image = patternBytes(3 << 20, seed: 61)
        try publish(device, image, version: "2.0")
        try device.server.setMode("ignore-range")
        _ = try await device.engine.update()
        #expect(device.box.slotBytes("b.img", count: image.count) == image)
        #expect(try device.server.log().payload_requests.count == 1, "one 200 carries everything")
    }

    /// A CDN's redirect is followed, segment by segment; one to another scheme
    /// or a loop fails at once, with the booted slot and the target untouched.
    @Test func redirectsAreFollowedToHTTPOnly() async throws {
        let device = try device(segment: 1 << 20)
        let image = patternBytes(2 << 20, seed: 63)
        try publish(device, image, version: "2.0")
        try device.server.setMode("redirect")
        _ = try await device.engine.update()
        #expect(device.box.slotBytes("b.img", count: image.count) == image)
        let paths = try device.server.log().payload_requests.compactMap(\.path)
        #expect(paths.filter { $0.hasPrefix("/moved/") }.count == 2, "\(paths)")

        for (mode, text) in [("redirect-ftp", "ftp"), ("redirect-loop", "redirect")] {
            let other = try UpdateClientTests().device()
            try publish(other, image, version: "2.0")
            try other.server.setMode(mode)
            await expectFailure(.network, text) { _ = try await other.engine.update() }
            #expect(!(try other.box.manager.store.load())[.B].status.holdsVerifiedImage, "\(mode)")
            try expectUnchanged(other, mode)
            #expect(try other.server.log().payload_requests.count <= 6, "\(mode): retried a permanent failure")
        }
    }

    @Test func aServerErrorIsRetriedButA4xxGivesUpAtOnce() async throws {
        let device = try device()
        let image = patternBytes(1 << 20, seed: 62)
        try publish(device, image, version: "2.0")
        try device.server.setMode("fail-once")
        _ = try await device.engine.update()
        #expect(device.box.slotBytes("b.img", count: image.count) == image)

        let gone = Release(id: "rel-404", manifest: try publish(device, image, version: "3.0", id: "rel-x").manifest, url: "/payload/nope.bin", signature: "")
        var signed = gone
        signed.signature = try ReleaseSignature.sign(gone.manifest, privateKeyBase64: device.keys.privateKey)
        try device.server.setRelease(signed)
        let before = try device.server.log().payload_requests.count
        await expectFailure(.network, "HTTP 404") { try await device.engine.update() }
        #expect(try device.server.log().payload_requests.count == before + 1, "no retries after a 4xx")
    }

    @Test func theServerGoingAwayMidDownloadIsSurvived() async throws {
        let device = try device(segment: 1 << 20)
        let image = patternBytes(8 << 20, seed: 63)
        try publish(device, image, version: "2.0")
        try device.server.setMode("slow:4000000")
        let server = device.server
        let engine = device.engine
        let outage = Task.detached {
            while engine.progress.bytesDone < 2 << 20 { try await Task.sleep(nanoseconds: 20_000_000) }
            server.stop()
            try await Task.sleep(nanoseconds: 400_000_000)
            try server.restart()  // same port; release, payload and mode come back from its state file
        }
        _ = try await device.engine.update()
        try await outage.value
        #expect(device.box.slotBytes("b.img", count: image.count) == image)
        // The restarted server only saw the resumed requests, none from byte 0.
        let resumed = try server.log().payload_requests
        #expect(!resumed.isEmpty)
        #expect(resumed.allSatisfy { $0.range != nil && !$0.range!.hasPrefix("bytes=0-") }, "\(resumed.map { $0.range ?? "-" })")
    }

    @Test func cancelStopsAFastTransferAtOnce() async throws {
        let device = try device(slotSize: 64 << 20, segment: 64 << 20)
        let image = patternBytes(48 << 20, seed: 64)
        try publish(device, image, version: "2.0")
        let engine = device.engine
        let task = Task.detached { try await engine.update() }
        while engine.progress.bytesDone < 1 << 20 { try await Task.sleep(nanoseconds: 1_000_000) }
        let cancelledAt = Date()
        engine.cancel()
        do {
            _ = try await task.value
            Issue.record("the update finished despite cancel")
        } catch let error as SlotError {
            #expect(error.code == .cancelled)
        }
        #expect(Date().timeIntervalSince(cancelledAt) < 2, "cancel took too long")
        #expect(engine.progress.state == .cancelled)
        #expect(engine.progress.bytesDone < UInt64(image.count))
        let state = try device.box.manager.store.load()
        #expect(!state[.B].status.holdsVerifiedImage)
        try expectUnchanged(device)
    }

    @Test func overHTTPSTheServerMustChainToThePinnedCA() async throws {
        let certificates = TempDirectory("slotctl-ca")
        let ca = try ThrowawayCA(in: certificates)
        let device = try device(segment: 1 << 20, tls: ca, pin: ca.caFile)
        let image = patternBytes(3 << 20, seed: 65)
        try publish(device, image, version: "2.0")
        _ = try await device.engine.update()
        #expect(device.box.slotBytes("b.img", count: image.count) == image)
        #expect(try device.server.log().payload_requests.count >= 3, "the payload came over TLS too")

        // Another CA pinned: refused at the handshake, nothing asked or written.
        let stranger = try ThrowawayCA(in: certificates, name: "stranger")
        let wrong = try self.device(tls: ca, pin: stranger.caFile)
        try publish(wrong, image, version: "2.0")
        await expectFailure(.network, "cannot reach the update server") { try await wrong.engine.update() }
        #expect(try wrong.server.log().checks.isEmpty, "no request got through the handshake")
        let state = try wrong.box.manager.store.load()
        #expect(!state[.B].status.holdsVerifiedImage)
        try expectUnchanged(wrong)

        // Nothing pinned: the system store does not know a throwaway CA either.
        let unpinned = try self.device(tls: ca)
        try publish(unpinned, image, version: "2.0")
        await expectFailure(.network, "certificate") { try await unpinned.engine.update() }
        try expectUnchanged(unpinned)
    }

    @Test func aPinnedCAIsCheckedWhenTheEngineStarts() throws {
        let box = try Sandbox(extra: """
            [update]
            server = https://127.0.0.1:9
            ca = missing.pem
            """)
        do {
            _ = try UpdateEngine(manager: box.manager)
            Issue.record("a missing CA file was accepted")
        } catch {
            #expect(error.code == .invalidConfig && error.description.contains("missing.pem"), "\(error)")
        }
        box.dir.write("not-a-ca.pem", "hello\n")
        let other = try Sandbox(extra: """
            [update]
            server = https://127.0.0.1:9
            ca = \(box.dir.file("not-a-ca.pem"))
            """)
        do {
            _ = try UpdateEngine(manager: other.manager)
            Issue.record("a file without a certificate was accepted")
        } catch {
            #expect(error.code == .invalidConfig && error.description.contains("no PEM certificate"), "\(error)")
        }
        // A pinned CA with a plain-HTTP server is a config error, not a silent no-op.
        do {
            _ = try Sandbox(extra: """
                [update]
                server = http://127.0.0.1:9
                ca = x.pem
                """).config
            Issue.record("ca with http:// was accepted")
        } catch let error as SlotError {
            #expect(error.code == .invalidConfig && error.description.contains("not https://"), "\(error)")
        }
    }

    /// `[update] server-key`: answers must carry a statement from that key,
    /// unexpired and not older than what the device already accepted; a
    /// refused answer installs nothing, whatever it offers.
    @Test func freshnessStatementsAreCheckedOnEveryAnswer() async throws {
        let online = ReleaseSignature.generateKeyPair()
        let device = try device(serverKey: online.publicKey)
        let now = Int64(Date().timeIntervalSince1970)
        func statement(_ version: UInt64, expiresIn seconds: Int64 = 300, key: String = online.privateKey) throws -> String {
            try FreshnessStatement(catalogVersion: version, expiresAt: now + seconds).signedHeader(privateKeyBase64: key)
        }
        // Fresh: a 204 and then an offer are accepted; the version is remembered.
        try device.server.setFreshness(try statement(7))
        #expect(try await device.engine.check() == nil)
        #expect(device.engine.freshness?.newestSeen() == 7)
        let image = patternBytes(1 << 20, seed: 66)
        try publish(device, image, version: "2.0")

        let stranger = ReleaseSignature.generateKeyPair()
        let refusals: [(header: String, code: SlotError.Code, text: String)] = [
            ("", .staleAnswer, "carries no freshness statement"),
            (try statement(8, expiresIn: -5), .staleAnswer, "expired"),
            (try statement(6), .staleAnswer, "older than version 7"),
            (try statement(9, key: stranger.privateKey), .badSignature, "not signed by the pinned server key"),
            ("bm90LWpzb24=.AAAA", .badSignature, "not signed by the pinned server key"),
            ("garbage", .badSignature, "not BASE64.BASE64"),
            (String(repeating: "A", count: 2000), .badSignature, "longer than 1024 bytes"),
        ]
        for refusal in refusals {
            try device.server.setFreshness(refusal.header)
            await expectFailure(refusal.code, refusal.text) { _ = try await device.engine.update() }
            #expect(try device.server.log().payload_requests.isEmpty, "a refused answer downloads nothing")
            #expect(!(try device.box.manager.store.load())[.B].status.holdsVerifiedImage)
            try expectUnchanged(device, "after \(refusal.text)")
        }
        #expect(device.engine.freshness?.newestSeen() == 7, "refused statements teach nothing")

        // Fresh again, and newer: the update goes through.
        try device.server.setFreshness(try statement(8))
        _ = try await device.engine.update()
        #expect(device.box.slotBytes("b.img", count: image.count) == image)
        #expect(device.engine.freshness?.newestSeen() == 8)
    }

    @Test func aFallbackIsReportedOnceTheServerIsReachableAgain() async throws {
        let device = try device()
        let release = try publish(device, patternBytes(200_000, seed: 65), version: "2.0")
        _ = try await device.engine.update()
        try device.server.setRelease(nil)
        try device.server.setMode("events-down")
        // B boots three times without confirming, then the hook falls back to A.
        for _ in 0..<4 { _ = device.box.manager.boot(dryRun: false) }
        #expect(try device.box.manager.store.load()[.B].status == .bad)
        _ = try await device.engine.check()  // events cannot be delivered: they stay queued
        #expect(try device.server.log().events.filter { $0.type == .fellBack }.isEmpty)
        try device.server.setMode("normal")
        _ = try await device.engine.check()
        let fellBack = try device.server.log().events.filter { $0.type == .fellBack }
        #expect(fellBack.count == 1)
        #expect(fellBack.first?.releaseId == release.id)
        #expect(fellBack.first?.detail?.contains("boot attempts exhausted") == true)
        let booted = try device.server.log().events.filter { $0.type == .booted && $0.releaseId == release.id }
        #expect(booted.count == 3)
        // Sent once only.
        _ = try await device.engine.check()
        #expect(try device.server.log().events.filter { $0.type == .fellBack }.count == 1)
    }
}

/// Collects progress reports from the engine's threads.
final class StateLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [UpdateProgress] = []
    func add(_ progress: UpdateProgress) { lock.withLock { items.append(progress) } }
    var progress: [UpdateProgress] { lock.withLock { items } }
    var states: [UpdateState] {
        var result: [UpdateState] = []
        for item in progress where result.last != item.state { result.append(item.state) }
        return result
    }
}

@Suite(.serialized) struct RepeatedUpdateTests {
    @Test func anUpdateWaitingForRebootIsNotDownloadedAgain() async throws {
        let suite = UpdateClientTests()
        let device = try suite.device()
        try suite.publish(device, patternBytes(300_000, seed: 66), version: "2.0")
        _ = try await device.engine.update()
        let requests = try device.server.log().payload_requests.count
        let again = try await device.engine.update()
        guard case .installed(_, let slot) = again else { Issue.record("expected installed"); return }
        #expect(slot == .B)
        #expect(try device.server.log().payload_requests.count == requests, "downloaded twice")
        #expect(device.engine.progress.state == .readyToReboot)
    }
}

@Suite(.serialized) struct UpdateDaemonTests {
    @Test func backoffGrowsWithFailuresWithinItsBoundsAndJitters() throws {
        let suite = UpdateClientTests()
        let device = try suite.device()
        let daemon = UpdateDaemon(engine: device.engine, interval: 3600)
        var seen = Set<Int>()
        for _ in 0..<50 {
            let healthy = daemon.delay(afterFailures: 0)
            #expect(healthy >= 3240 && healthy <= 3960, "interval ±10 %")
            seen.insert(Int(healthy))
        }
        #expect(seen.count > 1, "no jitter")
        #expect(daemon.delay(afterFailures: 1) <= 66)
        #expect(daemon.delay(afterFailures: 3) >= 216 && daemon.delay(afterFailures: 3) <= 264)
        #expect(daemon.delay(afterFailures: 40) <= daemon.maxBackoff * 1.1)
    }

    /// A `429` is "later": the error says so, the daemon waits at least the
    /// server's `Retry-After` before asking again, and queued events stay queued.
    @Test func aRateLimitedDeviceWaitsAsItIsTold() async throws {
        let suite = UpdateClientTests()
        let device = try suite.device()
        try device.server.setMode("limited:2")
        do {
            _ = try await device.engine.check()
            Issue.record("a 429 was taken for an answer")
        } catch {
            #expect(error.code == .network && error.description.contains("HTTP 429") && RetryAfter.hint(in: error) == 2, "\(error)")
        }
        try EventQueue(config: device.box.config).append([DeviceEvent(clientId: device.engine.clientId, releaseId: nil, type: .booted, detail: "A", at: "2026-11-29T12:00:00Z")])
        await device.engine.flushEvents()
        #expect(EventQueue(config: device.box.config).pending().count == 1, "a limited batch stays queued")

        let start = ContinuousClock.now
        await UpdateDaemon(engine: device.engine, interval: 0.05).run(cycles: 2) { _ in }
        let waited = ContinuousClock.now - start
        #expect(waited >= .seconds(2), "the daemon asked again after \(waited), before Retry-After")
        #expect(try device.server.log().checks.isEmpty, "no check got through")
    }

    @Test func oneCycleInstallsAndRebootsOnlyWhenTold() async throws {
        let suite = UpdateClientTests()
        let device = try suite.device()
        try suite.publish(device, patternBytes(200_000, seed: 67), version: "2.0")
        // Not told to reboot: it installs and stops there.
        await UpdateDaemon(engine: device.engine, interval: 1).run(cycles: 1) { _ in }
        #expect(try device.box.manager.store.load()[.B].version == "2.0")

        // Told to: the configured command runs once the update is ready.
        let marker = device.box.dir.file("rebooted")
        let config = try SystemConfig.parse(path: device.box.configPath, text: String(decoding: device.box.dir.read("system.conf"), as: UTF8.self) + "\nreboot = true\nreboot-command = touch \(marker)\n")
        let engine = try UpdateEngine(manager: SlotManager(config: config, sha256: CryptoSHA256.factory))
        try suite.publish(device, patternBytes(200_000, seed: 68), version: "3.0", id: "rel-3")
        await UpdateDaemon(engine: engine, interval: 1).run(cycles: 1) { _ in }
        #expect(FileManager.default.fileExists(atPath: marker))
    }

    /// A reboot command that fails is said in the log; the update stays
    /// ready, and the next cycle tries the reboot again without downloading.
    @Test func aFailingRebootCommandLeavesTheUpdateReady() async throws {
        let suite = UpdateClientTests()
        let device = try suite.device()
        let attempts = device.box.dir.file("attempts")
        let config = try SystemConfig.parse(path: device.box.configPath, text: String(decoding: device.box.dir.read("system.conf"), as: UTF8.self) + "\nreboot = true\nreboot-command = echo x >> \(attempts); exit 3\n")
        let engine = try UpdateEngine(manager: SlotManager(config: config, sha256: CryptoSHA256.factory))
        try suite.publish(device, patternBytes(200_000, seed: 69), version: "2.0")
        let lines = StringLog()
        await UpdateDaemon(engine: engine, interval: 0.05).run(cycles: 2) { lines.add($0) }
        #expect(lines.all.filter { $0.contains("the reboot command exited with status 3") }.count == 2, "\(lines.all)")
        #expect(String(decoding: device.box.dir.read("attempts"), as: UTF8.self) == "x\nx\n")
        let state = try device.box.manager.store.load()
        #expect(state[.B].version == "2.0" && state[.B].status.holdsVerifiedImage)
        #expect(try device.server.log().payload_requests.count == 1, "the second cycle downloaded again")
    }
}

/// Collects the daemon's log lines.
final class StringLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func add(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}
