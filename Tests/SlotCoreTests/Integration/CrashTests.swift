import SlotCodec
import Foundation
import Glibc
import SlotTestSupport
import Testing
@testable import SlotCore

/// Processes killed at every step: at each named failpoint (debug builds end
/// the process there with `_exit(99)`) and at random moments with SIGKILL.
/// After each crash: the state reads back, the booted slot's bytes are the
/// same, and a half-written slot is never chosen.
@Suite(.serialized, .enabled(if: CLI.available && FaultInjection.isAvailable, "needs a debug build of slotctl"))
struct CrashTests {
    struct World {
        let box: Sandbox
        let aImage: [UInt8]
        let update: String
    }

    /// R provisioned, A installed, booted and good; a 12 MiB update waiting.
    func world() throws -> World {
        let box = try Sandbox(slotSize: 16 << 20)
        let config = box.configPath
        try #require(CLI.slotctl(["init"], config: config).status == 0)
        let factory = box.image("factory.img", size: 1 << 20, seed: 31)
        try #require(CLI.slotctl(["install", factory.path, "--slot", "R", "--provision"], config: config).status == 0)
        let v1 = box.image("v1.img", size: 3 << 20, seed: 32)
        try #require(CLI.slotctl(["install", v1.path, "--version", "1"], config: config).status == 0)
        try #require(CLI.slotctl(["boot"], config: config).stdout.assignment("SLOT") == "A")
        try #require(CLI.slotctl(["mark-good"], config: config).status == 0)
        let v2 = box.image("v2.img", size: 12 << 20, seed: 33)
        return World(box: box, aImage: v1.bytes, update: v2.path)
    }

    /// What must hold after any crash.
    func checkInvariants(_ world: World, _ context: String) throws {
        let box = world.box
        let status = CLI.slotctl(["status", "--json"], config: box.configPath)
        #expect(status.status == 0, "\(context): state unreadable: \(status.stderr)")
        #expect(box.slotBytes("a.img", count: world.aImage.count) == world.aImage, "\(context): the booted slot changed")
        let state = try StateStore(directory: box.dir.file("state")).load()
        let next = CLI.slotctl(["boot", "--dry-run"], config: box.configPath).stdout.assignment("SLOT")
        #expect(next == "A" || next == "B", "\(context): next boot \(next ?? "nil")")
        if next == "B" {
            // B may only be chosen when it is complete and verified.
            #expect(state[.B].status.holdsVerifiedImage, "\(context)")
            let size = Int(try #require(state[.B].size))
            #expect(CRC32.checksum(box.slotBytes("b.img", count: size)) == state[.B].crc32, "\(context): B chosen but its bytes do not match")
        }
    }

    static let installPoints = [
        "state-temp-written:1", "state-temp-synced:1", "state-renamed:1", "state-dir-synced:1",
        "install-marked-installing", "install-chunk-written:1", "install-chunk-written:3", "install-verified",
        "state-temp-written:2", "state-temp-synced:2", "state-renamed:2", "state-dir-synced:2",
    ]

    @Test(arguments: installPoints)
    func installKilledAtAFailpoint(point: String) throws {
        let world = try world()
        let crashed = CLI.slotctl(["install", world.update, "--version", "2"], config: world.box.configPath, environment: ["SLOTCTL_FAILPOINT": point])
        #expect(crashed.status == 99, "\(point) was not reached: \(crashed.stderr)")
        try checkInvariants(world, point)
        // The device recovers: the next install (stale lock, temp files) works.
        let retry = CLI.slotctl(["install", world.update, "--version", "2"], config: world.box.configPath)
        #expect(retry.status == 0, "\(point): retry failed: \(retry.stderr)")
        try checkInvariants(world, point + " then retry")
        #expect(CLI.slotctl(["boot", "--dry-run"], config: world.box.configPath).stdout.assignment("SLOT") == "B")
    }

    static let countingPoints = ["boot-before-commit", "state-temp-written", "state-temp-synced", "state-renamed", "state-dir-synced", "boot-after-commit"]

    @Test(arguments: countingPoints)
    func bootKilledAtAFailpoint(point: String) throws {
        let world = try world()
        let before = try StateStore(directory: world.box.dir.file("state")).load()
        let crashed = CLI.slotctl(["boot"], config: world.box.configPath, environment: ["SLOTCTL_FAILPOINT": point])
        #expect(crashed.status == 99)
        try checkInvariants(world, point)
        let after = try StateStore(directory: world.box.dir.file("state")).load()
        // Either the attempt was counted or it was not: never anything else.
        #expect(after[.A].tries == before[.A].tries || after[.A].tries == before[.A].tries - 1, "\(point)")
    }

    @Test(arguments: countingPoints.dropFirst().dropLast())
    func markGoodKilledAtAFailpoint(point: String) throws {
        let world = try world()
        _ = CLI.slotctl(["boot"], config: world.box.configPath)
        let crashed = CLI.slotctl(["mark-good"], config: world.box.configPath, environment: ["SLOTCTL_FAILPOINT": point])
        #expect(crashed.status == 99)
        try checkInvariants(world, point)
        #expect(CLI.slotctl(["mark-good"], config: world.box.configPath).status == 0)
    }

    /// SIGKILL at random moments, many times over, for install, boot and mark-good.
    @Test func randomKills() throws {
        let world = try world()
        let config = world.box.configPath
        var generator = SystemRandomNumberGenerator()
        for round in 0..<40 {
            let kind = round % 4
            let arguments: [String]
            let delay: UInt32
            switch kind {
            case 0, 1:
                arguments = ["install", world.update, "--version", "2"]
                delay = UInt32.random(in: 0...120_000, using: &generator)
            case 2:
                arguments = ["boot"]
                delay = UInt32.random(in: 0...15_000, using: &generator)
            default:
                arguments = ["mark-good", "A"]
                delay = UInt32.random(in: 0...15_000, using: &generator)
            }
            let process = try CLI.start(CLI.slotctl, ["--config", config] + arguments)
            usleep(delay)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            try checkInvariants(world, "round \(round) \(arguments[0]) killed after \(delay) µs")
            // Keep A bootable for the next rounds: a real device would run mark-good on each boot.
            _ = CLI.slotctl(["set-active", "A"], config: config)
            _ = CLI.slotctl(["mark-good", "A"], config: config)
        }
    }
}
