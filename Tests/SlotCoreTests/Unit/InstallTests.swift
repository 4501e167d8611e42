import SlotCodec
import Glibc
import SlotTestSupport
import Testing
@testable import SlotCore

@Suite(.serialized) struct InstallTests {
    @Test func installsRawAndGzipIntoTheInactiveSlotAndReadsBack() throws {
        let box = try Sandbox()
        try box.manager.initialize(force: false)
        let v1 = box.image("v1.img", size: 3 << 20, seed: 1)
        let first = try box.manager.install(.file(v1.path), expectations: .init(version: "1.0"))
        #expect(first.slot == .A, "nothing booted yet: the least valuable slot, A, is chosen")
        #expect(box.slotBytes("a.img", count: v1.bytes.count) == v1.bytes)
        #expect(first.record.crc32 == CRC32.checksum(v1.bytes))
        #expect(first.record.status == .ready && first.record.tries == 3)

        box.setBooted(.A)
        let v2 = box.image("v2.img", size: (5 << 20) / 2 + 17, seed: 2)  // not a multiple of any block size
        box.dir.write("v2.img.gz", bytes: gzipCompress(v2.bytes))
        let second = try box.manager.install(.file(box.dir.file("v2.img.gz")), expectations: .init(version: "2.0"))
        #expect(second.slot == .B)
        #expect(second.record.size == UInt64(v2.bytes.count))
        #expect(box.slotBytes("b.img", count: v2.bytes.count) == v2.bytes)
        let state = try box.manager.store.load()
        #expect(state[.B].priority > state[.A].priority)
        #expect(BootSelector.preview(state) == .B)
        #expect(box.slotBytes("a.img", count: v1.bytes.count) == v1.bytes, "the booted slot is untouched")
    }

    @Test func anInstallStartsTheSlotsBootCountAfresh() throws {
        let box = try Sandbox()
        try box.manager.initialize(force: false)
        try box.manager.install(.file(box.image("v1.img", size: 1 << 20, seed: 3).path), slot: .B, expectations: .init(version: "1.0"))
        for _ in 0..<2 { _ = box.manager.boot(dryRun: false) }
        #expect(try box.manager.store.load()[.B].boots == 2)
        box.setBooted(.A)
        let again = try box.manager.install(.file(box.image("v2.img", size: 1 << 20, seed: 4).path), slot: .B, expectations: .init(version: "2.0"))
        #expect(again.record.boots == 0, "the count belongs to the image that was booted, which is gone")
        #expect(try box.manager.store.load()[.B].boots == 0)
    }

    @Test func theReleaseIsRecordedWithTheImageAndForgottenByAnInstallByHand() throws {
        let box = try Sandbox()
        try box.manager.initialize(force: false)
        try box.manager.install(.file(box.image("factory.img", size: 1 << 20, seed: 8).path), slot: .R, provision: true, expectations: .init(version: "f", release: "rel-factory"))
        let image = box.image("release.img", size: 1 << 20, seed: 5)
        let shipped = try box.manager.install(.file(image.path), slot: .B, expectations: .init(version: "2.0", release: "rel-42"))
        #expect(shipped.record.release == "rel-42")
        #expect(try box.manager.store.load()[.B].release == "rel-42", "written in the same transaction that made B ready")
        let byHand = try box.manager.install(.file(image.path), slot: .B, expectations: .init(version: "2.0-local"))
        #expect(byHand.record.release == nil, "an image installed by hand is no server release")
        #expect(try box.manager.store.load()[.B].release == nil)
        box.setBooted(.A)
        let target = try box.manager.factoryReset(wipeData: false)
        #expect(try box.manager.store.load()[target].release == "rel-factory", "the factory image keeps R's release")
    }

    @Test func multiMemberGzipIsOneImage() throws {
        let box = try Sandbox()
        try box.manager.initialize(force: false)
        let part1 = patternBytes(100_000, seed: 3), part2 = patternBytes(200_001, seed: 4)
        box.dir.write("two.gz", bytes: gzipCompress(part1) + gzipCompress(part2))
        let result = try box.manager.install(.file(box.dir.file("two.gz")), slot: .B)
        #expect(result.record.size == 300_001)
        #expect(box.slotBytes("b.img", count: 300_001) == part1 + part2)
    }

    @Test func directorySlotGetsItsPayloadByRename() throws {
        let dir = TempDirectory()
        dir.makeDirectory("a")
        dir.makeDirectory("b")
        dir.makeDirectory("r")
        dir.write("system.conf", """
            [system]
            compatible = app
            state = state
            run-dir = run
            [slot.A]
            directory = a
            filename = libapp.so
            [slot.B]
            directory = b
            filename = libapp.so
            [slot.R]
            directory = r
            filename = libapp.so
            """)
        let manager = try SlotManager(configPath: dir.file("system.conf"))
        try manager.initialize(force: false)
        let payload = patternBytes(777_777, seed: 5)
        dir.write("app.so", bytes: payload)
        let result = try manager.install(.file(dir.file("app.so")), slot: .A)
        #expect(dir.read("a/libapp.so") == payload)
        #expect(try FileSystem.contentsOfDirectory(dir.file("a")) == ["libapp.so"], "no temp file left behind")
        #expect(result.record.status == .ready)
        let boot = manager.boot(dryRun: false)
        #expect(boot.assignments.slot == .A)
        #expect(boot.assignments.root == dir.file("a/libapp.so"))
    }

    /// Each refusal: the right code, a message naming the cause, nothing lost.
    @Test func refusalsLoseNothing() throws {
        let box = try Sandbox(slotSize: 1 << 20)
        try box.manager.initialize(force: false)
        let good = box.image("good.img", size: 600_000, seed: 6)
        try box.manager.install(.file(good.path), slot: .A)
        box.setBooted(.A)
        let before = try box.manager.store.load()
        let aBefore = box.dir.read("a.img")
        let bBefore = box.dir.read("b.img")

        func expectRefusal(_ code: SlotError.Code, _ text: String, _ body: () throws -> Void) {
            do {
                try body()
                Issue.record("expected \(code)")
            } catch let error as SlotError {
                #expect(error.code == code, "\(error)")
                #expect(error.description.contains(text), "\(error.description)")
            } catch {
                Issue.record("unexpected error \(error)")
            }
            #expect(box.dir.read("a.img") == aBefore, "booted slot A changed")
        }
        let big = box.image("big.img", size: (1 << 20) + 1, seed: 7)
        expectRefusal(.imageTooLarge, "larger than the slot") { _ = try box.manager.install(.file(big.path)) }
        expectRefusal(.bootedSlot, "slot A is the booted slot") { _ = try box.manager.install(.file(good.path), slot: .A) }
        expectRefusal(.readonlySlot, "--slot R --provision") { _ = try box.manager.install(.file(good.path), slot: .R) }
        expectRefusal(.io, "cannot open image") { _ = try box.manager.install(.file(box.dir.file("missing.img"))) }
        expectRefusal(.incompatible, "for 'other-board'") {
            try box.manager.install(.file(good.path), expectations: .init(compatible: "other-board"))
        }
        // Nothing was touched by refusals decided before writing.
        #expect(try box.manager.store.load() == before)
        #expect(box.dir.read("b.img") == bBefore)

        // A CRC mismatch is found only after writing: B is left bad, A untouched.
        expectRefusal(.checksumMismatch, "expected deadbeef") {
            try box.manager.install(.file(good.path), expectations: .init(crc32: 0xdead_beef))
        }
        let after = try box.manager.store.load()
        #expect(after[.B].status == .bad)
        #expect(after[.B].badReason?.contains("install failed") == true)
        #expect(after[.A] == before[.A])
        #expect(BootSelector.preview(after) == .A)

        // A gzip image that inflates beyond the slot is stopped mid-stream.
        box.dir.write("big.gz", bytes: gzipCompress(big.bytes))
        expectRefusal(.imageTooLarge, "larger than the slot") { _ = try box.manager.install(.file(box.dir.file("big.gz"))) }
        // Truncated gzip and trailing garbage are refused as bad images.
        let compressed = gzipCompress(good.bytes)
        box.dir.write("cut.gz", bytes: Array(compressed.prefix(compressed.count - 9)))
        expectRefusal(.badImage, "truncated") { _ = try box.manager.install(.file(box.dir.file("cut.gz"))) }
        box.dir.write("junk.gz", bytes: compressed + Array("garbage".utf8))
        expectRefusal(.badImage, "trailing garbage") { _ = try box.manager.install(.file(box.dir.file("junk.gz"))) }
        #expect(BootSelector.preview(try box.manager.store.load()) == .A)
    }

    @Test func manifestSizeAndSHA256AreEnforced() throws {
        let box = try Sandbox()
        try box.manager.initialize(force: false)
        let image = box.image("m.img", size: 100_000, seed: 8)
        var expectations = InstallExpectations()
        try expectations.merge(InstallExpectations(version: "3.1", compatible: "test-board", securityVersion: 4, size: 100_000, crc32: CRC32.checksum(image.bytes), sha256: String(repeating: "0", count: 64)))
        #expect(throws: SlotError.self) { try box.manager.install(.file(image.path), slot: .B, expectations: expectations) }
        expectations.sha256 = nil
        let result = try box.manager.install(.file(image.path), slot: .B, expectations: expectations)
        #expect(result.record.version == "3.1")
        #expect(result.record.sha256 == nil)
        #expect(try box.manager.store.load().securityVersion == 4)
        // The floor now refuses security version 3.
        var older = InstallExpectations(securityVersion: 3)
        older.version = "3.0"
        do {
            try box.manager.install(.file(image.path), slot: .A, expectations: older)
            Issue.record("expected downgrade refusal")
        } catch {
            #expect(error.code == .downgrade)
            #expect(error.exitCode == 3)
        }
    }

    /// A failing medium and a full disk, half-way through the image.
    @Test(arguments: [(EIO, "Input/output error"), (ENOSPC, "No space left on device")])
    func aWriteErrorMidImageLeavesTheTargetUnbootable(errno code: Int32, text: String) throws {
        try #require(FaultInjection.isAvailable)
        let box = try Sandbox(slotSize: 16 << 20)
        try box.manager.initialize(force: false)
        let v1 = box.image("v1.img", size: 1 << 20, seed: 9)
        try box.manager.install(.file(v1.path), slot: .A)
        box.setBooted(.A)
        let v2 = box.image("v2.img", size: 12 << 20, seed: 10)
        let rule = FaultInjection.fail("write", pathContaining: box.dir.file("b.img"), errno: code, afterHits: 1)
        do {
            try box.manager.install(.file(v2.path))
            Issue.record("expected an I/O error")
        } catch {
            #expect(error.code == .io)
            #expect(error.exitCode == 4)
            #expect(error.description.contains(text), "\(error)")
        }
        FaultInjection.remove(rule)
        let state = try box.manager.store.load()
        #expect(state[.B].status == .bad)
        #expect(BootSelector.preview(state) == .A)
        #expect(box.slotBytes("a.img", count: v1.bytes.count) == v1.bytes)
    }

    @Test func aSecondInstallIsRefusedWhileOneRuns() throws {
        let box = try Sandbox()
        try box.manager.initialize(force: false)
        let held = try FileLock.acquire(path: InstallSession.installLockPath(box.config), timeout: 0, what: "test")
        defer { held.release() }
        let image = box.image("x.img", size: 1000, seed: 11)
        do {
            try box.manager.install(.file(image.path), slot: .B)
            Issue.record("expected lockHeld")
        } catch {
            #expect(error.code == .lockHeld)
        }
        // mark-good and friends do not wait for the install lock.
        try box.manager.requestRecovery()
    }

    @Test func factoryResetCopiesRAndChecksItsCRC() throws {
        let box = try Sandbox()
        try box.manager.initialize(force: false)
        let factory = box.image("factory.img", size: 2 << 20, seed: 12)
        try box.manager.install(.file(factory.path), slot: .R, provision: true, expectations: .init(version: "factory"))
        let update = box.image("u.img", size: 1 << 20, seed: 13)
        try box.manager.install(.file(update.path), slot: .A)
        box.setBooted(.A)
        box.dir.write("data/user.db", "secret")
        let target = try box.manager.factoryReset(wipeData: true)
        #expect(target == .B)
        #expect(box.slotBytes("b.img", count: factory.bytes.count) == factory.bytes)
        let state = try box.manager.store.load()
        #expect(state[.B].version == "factory" && state[.B].status == .ready)
        #expect(state[.A].status == .bad && state[.A].badReason == "factory reset")
        #expect(BootSelector.preview(state) == .B)
        #expect(try FileSystem.contentsOfDirectory(box.dir.file("data")).isEmpty)

        // A damaged R is refused, and the target stays unbootable.
        box.setBooted(.B)
        var r = box.dir.read("r.img")
        r[1000] ^= 0xff
        box.dir.write("r.img", bytes: r)
        do {
            try box.manager.factoryReset(wipeData: false)
            Issue.record("expected refusal")
        } catch {
            #expect(error.code == .checksumMismatch)
            #expect(error.message.contains("R's image does not match"))
        }
        #expect(BootSelector.preview(try box.manager.store.load()) == .B)
    }

    @Test func initForceKeepsOnlySlotsThatVerify() throws {
        let box = try Sandbox()
        try box.manager.initialize(force: false)
        #expect(throws: SlotError.self) { try box.manager.initialize(force: false) }
        let a = box.image("a1.img", size: 70_000, seed: 14)
        try box.manager.install(.file(a.path), slot: .A, expectations: .init(version: "a", securityVersion: 2))
        try box.manager.install(.file(a.path), slot: .B, expectations: .init(version: "b"))
        var b = box.dir.read("b.img")
        b[5] ^= 1
        box.dir.write("b.img", bytes: b)
        let state = try box.manager.initialize(force: true)
        #expect(state[.A].status == .ready && state[.A].version == "a")
        #expect(state[.B].status == .empty)
        #expect(state.securityVersion == 2)
    }

    @Test func adoptTrustsAFlashedSlotOnlyWhenItsCRCMatches() throws {
        let box = try Sandbox()
        let flashed = patternBytes(50_000, seed: 15)
        var a = box.dir.read("a.img")
        a.replaceSubrange(0..<flashed.count, with: flashed)
        box.dir.write("a.img", bytes: a)
        let crc = CRC32.checksum(flashed)
        #expect(throws: SlotError.self) {
            try box.manager.initialize(force: false, adopt: [.init(slot: .A, size: 50_000, crc32: crc ^ 1, version: nil)])
        }
        let state = try box.manager.initialize(force: false, adopt: [try .init(argument: "A:50000:\(CRC32.hex(crc)):1.0")])
        #expect(state[.A].status == .good && state[.A].version == "1.0")
        #expect(box.manager.boot(dryRun: true).assignments.slot == .A)
    }
}

@Suite struct ReactivationTests {
    @Test func theRunningSlotSurvivesInitForceAndABadSlotNeedsVerificationOrForce() throws {
        let box = try Sandbox()
        try box.manager.initialize(force: false)
        let a = box.image("a1.img", size: 70_000, seed: 16)
        try box.manager.install(.file(a.path), slot: .A, expectations: .init(version: "a"))
        let b = box.image("b1.img", size: 70_000, seed: 17)
        try box.manager.install(.file(b.path), slot: .B, expectations: .init(version: "b"))
        box.setBooted(.A)
        // A is mounted read-write and changes; B is given up on, then changed too.
        for name in ["a.img", "b.img"] {
            var bytes = box.dir.read(name)
            bytes[100] ^= 0xff
            box.dir.write(name, bytes: bytes)
        }
        try box.manager.markBad(.B)
        do {
            try box.manager.setActive(.B)
            Issue.record("expected a verification failure")
        } catch {
            #expect(error.code == .checksumMismatch)
            #expect(error.message.contains("--force"))
        }
        try box.manager.setActive(.B, force: true)
        #expect(try box.manager.store.load()[.B].status == .ready)

        let state = try box.manager.initialize(force: true)
        #expect(state[.A].status == .ready && state[.A].version == "a", "the running slot is kept")
        #expect(state[.B].status == .empty, "a slot that does not verify is emptied")
        #expect(state.events.last?.detail.contains("A kept (running)") == true)
    }
}

@Suite struct EmptyImageTests {
    @Test func aGzipOfNothingIsRefusedAndLeavesTheSlotUnbootable() throws {
        let box = try Sandbox()
        try box.manager.initialize(force: false)
        box.dir.write("empty.gz", bytes: gzipCompress([]))
        do {
            try box.manager.install(.file(box.dir.file("empty.gz")), slot: .B)
            Issue.record("an empty image was accepted")
        } catch {
            #expect(error.code == .badImage)
            #expect(error.message.contains("empty"))
        }
        #expect(!(try box.manager.store.load()[.B].status.holdsVerifiedImage))
    }
}

@Suite struct ReadBackTests {
    /// A medium that returns other bytes than were written: the read-back
    /// catches it and the slot never becomes bootable.
    @Test func aMediumThatReadsBackWrongIsCaught() throws {
        try #require(FaultInjection.isAvailable)
        let box = try Sandbox(slotSize: 16 << 20)
        try box.manager.initialize(force: false)
        let image = box.image("x.img", size: 5 << 20, seed: 18)
        let rule = FaultInjection.corruptReads(pathContaining: box.dir.file("b.img"))
        defer { FaultInjection.remove(rule) }
        do {
            try box.manager.install(.file(image.path), slot: .B)
            Issue.record("a corrupt read-back was accepted")
        } catch {
            #expect(error.code == .readBackMismatch, "\(error)")
            #expect(error.exitCode == 3)
        }
        let state = try box.manager.store.load()
        #expect(state[.B].status == .bad)
        #expect(state[.B].badReason?.contains("read-back") == true)
    }
}
