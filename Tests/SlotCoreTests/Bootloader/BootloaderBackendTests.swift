import Foundation
import SlotCodec
import SlotTestSupport
import Testing
@testable import SlotCore

/// `[boot] bootloader = grub | uboot` through the CLI, as a device would run
/// it, with the Debian tools (grub-editenv, fw_printenv) as the judges of
/// what lands in the environment. The bootloader's own part (choose the
/// first eligible slot of the order, spend a try, save) is played by
/// ``BootloaderView/nextBoot`` and the tools; images/e2e-grub.sh and
/// images/e2e-uboot.sh prove the shipped scripts do the same in real GRUB
/// and U-Boot.
@Suite(.serialized, .enabled(if: CLI.available, "needs the built slotctl"))
struct BootloaderBackendTests {
    // MARK: - GRUB

    struct Grub {
        let box: Sandbox
        var env: String { box.dir.file("grubenv") }

        init(maxTries: Int = 3) throws {
            box = try Sandbox(maxTries: maxTries, extra: "[boot]\nbootloader = grub\ngrubenv = grubenv\n")
        }

        func slotctl(_ arguments: [String]) -> CLI.Output { CLI.slotctl(arguments, config: box.configPath) }

        func list() throws -> [String: String] {
            var variables: [String: String] = [:]
            for line in try BootloaderTools.run(BootloaderTools.grubEditenv, [env, "list"]).split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { variables[String(parts[0])] = String(parts[1]) }
            }
            return variables
        }

        /// What grub.cfg does at power-on: R once, else the first eligible
        /// slot of ORDER with one try spent and saved. Returns the slot.
        func powerOn() throws -> SlotName {
            let view = try BootloaderView(.grub, environment: GrubEnvironment.read(path: env))
            let slot = view.nextBoot
            if view.recoveryOnce {
                try BootloaderTools.run(BootloaderTools.grubEditenv, [env, "set", "R_ONCE=0"])
            } else if slot != .R, view.provisioned, let left = view[slot].triesLeft {
                try BootloaderTools.run(BootloaderTools.grubEditenv, [env, "set", "\(slot)_LEFT=\(left - 1)", "\(slot)_TRY=1"])
            }
            return slot
        }

        /// The boot hook, told by the kernel command line what GRUB booted.
        @discardableResult
        func bootHook(_ slot: SlotName) throws -> String? {
            box.dir.write("cmdline", "console=ttyS0 panic=10 slotctl.slot=\(slot.rawValue)\n")
            let result = slotctl(["boot", "--cmdline", box.dir.file("cmdline")])
            try #require(result.status == 0, "boot: \(result.stderr)")
            return result.stdout.assignment("SLOT")
        }

        func state() throws -> SystemState { try StateStore(directory: box.dir.file("state")).load() }
    }

    @Test(.enabled(if: BootloaderTools.haveGrub, "needs grub-editenv (grub-common)"))
    func grubEnvironmentFollowsEveryOperation() throws {
        let grub = try Grub()
        #expect(grub.slotctl(["init"]).status == 0)
        let block = grub.box.dir.read("grubenv")
        #expect(block.count == 1024, "init makes the 1024-byte block save_env needs")
        try BootloaderTools.run(BootloaderTools.grubEditenv, [grub.env, "set", "board_setting=kept"])
        var env = try grub.list()
        #expect(env["ORDER"] == "A B" && env["A_OK"] == "0" && env["B_OK"] == "0")

        let factory = grub.box.image("factory.img", size: 1 << 20, seed: 1)
        #expect(grub.slotctl(["install", factory.path, "--slot", "R", "--provision"]).status == 0)
        let v1 = grub.box.image("v1.img", size: 1 << 20, seed: 2)
        #expect(grub.slotctl(["install", v1.path, "--version", "1"]).status == 0)
        env = try grub.list()
        #expect(env["A_OK"] == "1" && env["A_LEFT"] == "3" && env["A_TRY"] == "0" && env["ORDER"]?.hasPrefix("A") == true)

        // A boots (GRUB spends a try), the hook records it, A is confirmed: re-armed.
        #expect(try grub.powerOn() == .A)
        #expect(try grub.list()["A_LEFT"] == "2")
        #expect(try grub.bootHook(.A) == "A")
        #expect(grub.slotctl(["mark-good"]).status == 0)
        env = try grub.list()
        #expect(env["A_LEFT"] == "3" && env["A_TRY"] == "0")

        // B installed: first in ORDER with max-tries, A untouched.
        let v2 = grub.box.image("v2.img", size: 1 << 20, seed: 3)
        #expect(grub.slotctl(["install", v2.path, "--version", "2"]).status == 0)
        env = try grub.list()
        #expect(env["ORDER"] == "B A" && env["B_OK"] == "1" && env["B_LEFT"] == "3" && env["A_LEFT"] == "3")

        // B's kernel panics before any initramfs, three times: only GRUB counts.
        for _ in 0..<3 { #expect(try grub.powerOn() == .B) }
        #expect(try grub.list()["B_LEFT"] == "0")
        // GRUB passes B over: A boots, and the hook turns that into B bad.
        #expect(try grub.powerOn() == .A)
        #expect(try grub.bootHook(.A) == "A")
        var state = try grub.state()
        #expect(state[.B].status == .bad && state[.B].badReason == "boot attempts exhausted")
        #expect(state.events.contains { $0.type == .fellBack && $0.slot == .B })
        #expect(grub.slotctl(["status", "--json"]).stdout.contains("\"disagreements\":[]"), "B bad in the state, B_LEFT=0 in GRUB's block: they agree B cannot boot")
        #expect(grub.slotctl(["mark-good"]).status == 0)
        env = try grub.list()
        #expect(env["B_OK"] == "0" && env["B_LEFT"] == "0" && env["ORDER"] == "A B" && env["A_LEFT"] == "3")
        #expect(grub.slotctl(["status", "--json"]).stdout.contains("\"disagreements\":[]"), "state and environment agree again")

        // A try GRUB spent (a kernel that died before the hook) stays spent:
        // an operation that does not re-arm A never raises A_LEFT.
        #expect(try grub.powerOn() == .A)
        #expect(grub.slotctl(["recovery"]).status == 0)
        env = try grub.list()
        #expect(env["A_LEFT"] == "2" && env["R_ONCE"] == "1")
        // R once: GRUB clears R_ONCE, the hook clears the request.
        #expect(try grub.powerOn() == .R)
        #expect(try grub.bootHook(.R) == "R")
        state = try grub.state()
        #expect(!state.recoveryOnce && state.booted?.slot == .R)
        #expect(try grub.list()["board_setting"] == "kept", "a variable slotctl does not own is kept")
        #expect(grub.box.dir.read("grubenv").count == 1024)
    }

    @Test func grubRefusesMoreTriesThanItsScriptCounts() throws {
        #expect(throws: SlotError.self) { try Grub(maxTries: 10) }
        let config = try Grub(maxTries: 9).box.config
        #expect(config.bootloader == .grub(environment: config.path.replacingOccurrences(of: "system.conf", with: "grubenv")))
    }

    // MARK: - Crash safety of the state + environment transaction

    /// The install's first transaction (B installing) changes nothing GRUB
    /// sees: one state write. Its last (B ready) is the three-step one:
    /// state writes 2 (marked) and 3 (mark cleared) around the grubenv write.
    static let crashPoints = [
        "state-temp-written:2", "state-renamed:2", "projection-state-marked", "grubenv-written", "grubenv-synced",
        "projection-environment-written", "state-temp-written:3", "state-dir-synced:3",
    ]

    /// `install` of B, and `mark-good` after a boot of B, killed at each step
    /// of their last transaction: GRUB then boots a slot whose image is whole,
    /// the hook never turns a passed-over slot bad on a half-written pair, and
    /// the next operation leaves state and environment agreeing.
    @Test(.enabled(if: BootloaderTools.haveGrub && FaultInjection.isAvailable, "needs grub-editenv and a debug build"), arguments: crashPoints)
    func grubTransactionKilledAtEachStep(point: String) throws {
        let grub = try Grub()
        #expect(grub.slotctl(["init"]).status == 0)
        let v1 = grub.box.image("v1.img", size: 1 << 20, seed: 2)
        #expect(grub.slotctl(["install", v1.path, "--slot", "A"]).status == 0)
        #expect(try grub.powerOn() == .A)
        try grub.bootHook(.A)
        #expect(grub.slotctl(["mark-good"]).status == 0)
        let v2 = grub.box.image("v2.img", size: 1 << 20, seed: 3)

        let install = CLI.slotctl(["install", v2.path], config: grub.box.configPath, environment: ["SLOTCTL_FAILPOINT": point])
        try #require(install.status == 99, "install was not killed at \(point): \(install.stderr)")
        let env = try grub.list()  // grub-editenv still reads it
        let booted = try grub.powerOn()
        #expect(booted == .A || booted == .B)
        if booted == .B {
            let state = try grub.state()
            #expect(state[.B].status.holdsVerifiedImage || state.projectionPending, "\(point): GRUB booted B, which the state never made ready")
            #expect(CRC32.checksum(grub.box.slotBytes("b.img", count: 1 << 20)) == CRC32.checksum(v2.bytes), "\(point): B booted but not whole")
        }
        try grub.bootHook(booted)
        var state = try grub.state()
        #expect(state[.A].status == .good, "\(point): A must never be taken for exhausted (env \(env))")
        #expect(state[.B].status != .bad, "\(point): a crash is no reason to give up on B: \(state[.B])")
        // The next operation writes the pair again and clears the mark.
        #expect(grub.slotctl(["mark-good"]).status == 0)
        state = try grub.state()
        #expect(!state.projectionPending, "\(point)")
        #expect(grub.slotctl(["status", "--json"]).stdout.contains("\"disagreements\":[]"), "\(point): still disagreeing after mark-good")
    }

    // MARK: - U-Boot

    @Test(.enabled(if: BootloaderTools.haveLibubootenv && BootloaderTools.haveMkenvimage, "needs fw_printenv and mkenvimage"))
    func ubootEnvironmentFollowsEveryOperation() throws {
        let box = try Sandbox(extra: "[boot]\nbootloader = uboot\nuboot-env = fw_env.config\n")
        // A redundant environment in a file, as on a board with two env sectors.
        box.dir.write("fw_env.config", "\(box.dir.file("uboot.env")) 0x0 0x4000\n\(box.dir.file("uboot.env")) 0x4000 0x4000\n")
        let slotctl = { (arguments: [String]) in CLI.slotctl(arguments, config: box.configPath) }
        let fwPrintenv = { () throws -> [String: String] in
            var variables: [String: String] = [:]
            for line in try BootloaderTools.run(BootloaderTools.fwPrintenv, ["-c", box.dir.file("fw_env.config")]).split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { variables[String(parts[0])] = String(parts[1]) }
            }
            return variables
        }
        // No valid copy: slotctl refuses to invent U-Boot's whole environment.
        box.dir.write("uboot.env", bytes: [UInt8](repeating: 0xff, count: 0x8000))
        let refused = slotctl(["init"])
        #expect(refused.status != 0 && refused.stderr.contains("no valid copy"), "\(refused.stderr)")

        box.dir.write("default.txt", "bootcmd=run distro_bootcmd\nbootdelay=0\n")
        try BootloaderTools.run(BootloaderTools.mkenvimage, ["-r", "-s", "0x4000", "-o", box.dir.file("copy0"), box.dir.file("default.txt")])
        box.dir.write("uboot.env", bytes: box.dir.read("copy0") + [UInt8](repeating: 0xff, count: 0x4000))
        #expect(!FileManager.default.fileExists(atPath: box.dir.file("state/state.0")), "a refused init writes no state")
        #expect(slotctl(["init"]).status == 0)
        var env = try fwPrintenv()
        #expect(env["BOOT_ORDER"] == "A B" && env["BOOT_A_LEFT"] == "0" && env["bootcmd"] == "run distro_bootcmd")

        let v1 = box.image("v1.img", size: 1 << 20, seed: 2)
        #expect(slotctl(["install", v1.path, "--slot", "A"]).status == 0)
        let v2 = box.image("v2.img", size: 1 << 20, seed: 3)
        box.setBooted(.A)
        #expect(slotctl(["install", v2.path]).status == 0)
        env = try fwPrintenv()
        #expect(env["BOOT_ORDER"] == "B A" && env["BOOT_B_LEFT"] == "3" && env["BOOT_A_LEFT"] == "3")

        // boot.cmd spends B's tries (setexpr, saveenv: here fw_setenv), then boots A.
        try BootloaderTools.run(BootloaderTools.fwSetenv, ["-c", box.dir.file("fw_env.config"), "BOOT_B_LEFT", "0"])
        box.dir.write("cmdline", "console=ttyAMA0 slotctl.slot=A")
        #expect(slotctl(["boot", "--cmdline", box.dir.file("cmdline")]).stdout.assignment("SLOT") == "A")
        let state = try StateStore(directory: box.dir.file("state")).load()
        #expect(state[.B].status == .bad && state[.B].badReason == "boot attempts exhausted")
        #expect(slotctl(["mark-good"]).status == 0)
        env = try fwPrintenv()
        #expect(env["BOOT_ORDER"] == "A B" && env["BOOT_B_LEFT"] == "0" && env["BOOT_A_LEFT"] == "3")
        #expect(env["bootcmd"] == "run distro_bootcmd" && env["bootdelay"] == "0", "U-Boot's own variables are kept")
        #expect(slotctl(["status", "--json"]).stdout.contains("\"disagreements\":[]"))
    }
}

/// The boot hook's half with a bootloader backend, as a pure function.
@Suite struct BootloaderChoiceTests {
    func record(_ state: SystemState, _ slot: SlotName) -> BootDecision {
        BootSelector.recordBootloaderChoice(state, slot: slot, now: 1) { .committed($0) }
    }

    @Test func passedOverCandidatesBecomeBadUnlessAProjectionIsPending() throws {
        let state = sampleBootState()  // B ready first, A good
        let fellBack = try #require(record(state, .A).state)
        #expect(fellBack[.B].status == .bad && fellBack[.B].badReason == "boot attempts exhausted")
        #expect(fellBack[.A].tries == 2 && fellBack[.A].boots == 1 && fellBack.booted?.slot == .A)
        #expect(fellBack.events.map(\.type) == [.fellBack, .boot])

        var pending = state
        pending.projectionPending = true
        let kept = try #require(record(pending, .A).state)
        #expect(kept[.B] == state[.B] && kept.projectionPending, "nothing inferred while the environment may lag")

        let first = try #require(record(state, .B).state)
        #expect(first[.A] == state[.A] && first[.B].tries == 1)

        let recovery = try #require(record(state, .R).state)
        #expect(recovery[.A].status == .bad && recovery[.B].status == .bad, "R booted: both were passed over")

        let asked = try #require(record(sampleBootState(recoveryOnce: true), .R).state)
        #expect(!asked.recoveryOnce && asked[.A] == state[.A] && asked[.B] == state[.B], "a requested recovery passes nobody over")
    }

    /// B failed in userland on every boot: the hook saw each one and counted
    /// B down to 0 with the bootloader, so B is no candidate any more when
    /// the bootloader boots A; it is exhausted all the same.
    @Test func aSlotTheHookCountedDownIsExhaustedToo() throws {
        var state = sampleBootState()
        for _ in 0..<2 { state = try #require(record(state, .B).state) }
        #expect(state[.B].tries == 0 && state[.B].status == .ready)
        let after = try #require(record(state, .A).state)
        #expect(after[.B].status == .bad && after[.B].badReason == "boot attempts exhausted")
        #expect(after.events.contains { $0.type == .fellBack && $0.slot == .B })
        #expect(after[.A].status == .good)
    }

    @Test func aFailedRecordStillNamesTheBootloadersSlot() {
        let decision = BootSelector.recordBootloaderChoice(sampleBootState(), slot: .B, now: 1) { _ in .failed("read-only") }
        #expect(decision.slot == .B && decision.state == nil && decision.notes.contains { $0.contains("read-only") })
    }
}
