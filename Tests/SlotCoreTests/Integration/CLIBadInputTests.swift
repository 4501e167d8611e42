import Foundation
import SlotTestSupport
import Testing
@testable import SlotCore

/// Bad input through the real executable: distinct exit codes, messages that
/// name the cause, and nothing lost (state and booted slot byte-identical).
@Suite(.serialized, .enabled(if: CLI.available, "build slotctl first (swift build)"))
struct CLIBadInputTests {
    /// A provisioned sandbox: R provisioned, A installed, booted and good.
    func provisioned() throws -> Sandbox {
        let box = try Sandbox(slotSize: 2 << 20)
        #expect(CLI.slotctl(["init"], config: box.configPath).status == 0)
        let factory = box.image("factory.img", size: 1 << 20, seed: 21)
        #expect(CLI.slotctl(["install", factory.path, "--slot", "R", "--provision", "--version", "factory"], config: box.configPath).status == 0)
        let v1 = box.image("v1.img", size: 1 << 20, seed: 22)
        #expect(CLI.slotctl(["install", v1.path, "--version", "1.0"], config: box.configPath).status == 0)
        let boot = CLI.slotctl(["boot"], config: box.configPath)
        #expect(boot.stdout.assignment("SLOT") == "A")
        #expect(CLI.slotctl(["mark-good"], config: box.configPath).status == 0)
        return box
    }

    struct Fingerprint: Equatable {
        var state0: [UInt8], state1: [UInt8], a: [UInt8], r: [UInt8]
    }

    func fingerprint(_ box: Sandbox) -> Fingerprint {
        Fingerprint(state0: box.dir.read("state/state.0"), state1: box.dir.read("state/state.1"), a: box.dir.read("a.img"), r: box.dir.read("r.img"))
    }

    @Test func refusalsBeforeWritingChangeNothing() throws {
        let box = try provisioned()
        let before = fingerprint(box)
        let oversized = box.image("big.img", size: (2 << 20) + 1, seed: 23)
        let small = box.image("small.img", size: 1000, seed: 24)
        box.dir.write("notjson.json", "{\"crc32\": 12}")
        box.dir.write("control.json", "{\"version\": \"1\\n2\", \"unknown\": true}")
        box.dir.write("negative.json", "{\"securityVersion\": -1}")
        box.dir.write("garbage.json", "not json")
        box.dir.write("shortsha.json", "{\"sha256\": \"abc\"}")
        let cases: [(args: [String], code: Int32, message: String)] = [
            (["install", oversized.path], 3, "larger than the slot"),
            (["install", box.dir.file("nope.img")], 4, "cannot open image"),
            (["install", small.path, "--slot", "A"], 5, "slot A is the booted slot"),
            (["install", small.path, "--slot", "R"], 5, "written only by provisioning"),
            (["install", small.path, "--slot", "C"], 2, "--slot"),
            (["install", small.path, "--crc32", "xyz"], 2, "--crc32 expects 8 hex digits"),
            (["install", small.path, "--manifest", box.dir.file("notjson.json")], 3, "'crc32' must be a string"),
            // The release manifest's own rules (SlotWire's ManifestRules) judge it.
            (["install", small.path, "--manifest", box.dir.file("control.json")], 3, "version must not contain control characters"),
            (["install", small.path, "--manifest", box.dir.file("negative.json")], 3, "'securityVersion' must be a non-negative integer"),
            (["install", small.path, "--manifest", box.dir.file("garbage.json")], 3, "not a JSON object"),
            (["install", small.path, "--manifest", box.dir.file("shortsha.json")], 3, "sha256 must be 64 hex digits"),
            (["install", box.dir.path], 2, "is a directory"),
            (["mark-bad", "R"], 2, "R has no boot counter"),
            (["set-active", "B"], 5, "slot B is empty"),
            (["mark-good", "B"], 5, "slot B is empty"),
            (["frobnicate"], 2, "unknown command 'frobnicate'"),
            (["init"], 5, "already provisioned"),
        ]
        for testCase in cases {
            let result = CLI.slotctl(testCase.args, config: box.configPath)
            #expect(result.status == testCase.code, "\(testCase.args): \(result.stderr)")
            #expect(result.stderr.contains(testCase.message), "\(testCase.args): \(result.stderr)")
            #expect(fingerprint(box) == before, "\(testCase.args) changed something")
        }
    }

    /// `slot-boot mark-good` (what the installed launcher execs for the plain
    /// form) says what `slotctl mark-good` says, byte for byte, and exits the same.
    @Test func slotBootMarkGoodSpeaksAsSlotctl() throws {
        let box = try provisioned()
        let missing = TempDirectory("slotctl-nowhere").file("missing.conf")
        let cases: [[String]] = [
            ["--config", box.configPath, "mark-good"],
            ["--config", box.configPath, "mark-good", "a"],
            ["--config", box.configPath, "mark-good", "R"],
            ["--config", box.configPath, "mark-good", "B"],
            ["--config", missing, "mark-good"],
        ]
        for args in cases {
            let library = CLI.run(CLI.slotctl, args)
            let boot = CLI.run(CLI.slotBoot, args)
            #expect(boot.status == library.status, "\(args): \(boot.stderr) / \(library.stderr)")
            #expect(boot.stdout == library.stdout && boot.stderr == library.stderr, "\(args): '\(boot.stdout)\(boot.stderr)' vs '\(library.stdout)\(library.stderr)'")
        }
        #expect(try box.manager.store.load()[.A].status == .good)
        let mixed = CLI.run(CLI.slotBoot, ["--config", box.configPath, "--dry-run", "mark-good"])
        #expect(mixed.status == 1 && mixed.stderr.contains("belong to the boot decision"), "\(mixed.stderr)")
    }

    /// check, update and daemon run the update module (slotctl-update); without
    /// it they fail with exit 8 and say so, and nothing else is affected.
    @Test func updateCommandsNeedTheUpdateModule() throws {
        let box = try provisioned()
        let before = fingerprint(box)
        let missing = ["SLOTCTL_UPDATE_MODULE": box.dir.file("no-such-module")]
        for args in [["check"], ["update", "--json"], ["daemon", "--cycles", "1"], ["help", "check"]] {
            let result = CLI.slotctl(args, config: box.configPath, environment: missing)
            #expect(result.status == 8, "\(args): \(result.stderr)")
            #expect(result.stderr.contains("needs the update module, which is not installed"), "\(args): \(result.stderr)")
        }
        #expect(CLI.slotctl(["status"], config: box.configPath, environment: missing).status == 0)
        #expect(CLI.slotctl(["mark-good"], config: box.configPath, environment: missing).status == 0)
        // The module built next to slotctl is found and runs with the same arguments
        // (this sandbox has no [update] section: a configuration error, not exit 8).
        if FileManager.default.isExecutableFile(atPath: CLI.binDirectory + "/slotctl-update") {
            let result = CLI.slotctl(["check"], config: box.configPath)
            #expect(result.status == 2, "\(result.stderr)")
            #expect(!result.stderr.contains("update module"), "\(result.stderr)")
            #expect(CLI.slotctl(["check", "--help"], config: box.configPath).stdout.contains("--json"))
        }
        #expect(fingerprint(box).a == before.a && fingerprint(box).r == before.r)
    }

    @Test func aWrongCRCLeavesTheTargetBadAndTheBootedSlotIntact() throws {
        let box = try provisioned()
        let aBefore = box.dir.read("a.img")
        let v2 = box.image("v2.img", size: 500_000, seed: 25)
        let result = CLI.slotctl(["install", v2.path, "--crc32", "0badc0de"], config: box.configPath)
        #expect(result.status == 3)
        #expect(result.stderr.contains("expected 0badc0de"))
        #expect(box.dir.read("a.img") == aBefore)
        let dry = CLI.slotctl(["boot", "--dry-run"], config: box.configPath)
        #expect(dry.stdout.assignment("SLOT") == "A")
        let status = try statusJSON(box)
        #expect((status["slots"] as? [String: Any]).flatMap { ($0["B"] as? [String: Any])?["status"] as? String } == "bad")
    }

    @Test func badConfigsAreUsageErrors() throws {
        let box = try provisioned()
        let text = String(decoding: box.dir.read("system.conf"), as: UTF8.self)
        box.dir.write("unknown.conf", text.replacingOccurrences(of: "max-tries = 3", with: "max-tries = 3\ncolour = blue"))
        var result = CLI.slotctl(["status"], config: box.dir.file("unknown.conf"))
        #expect(result.status == 2)
        #expect(result.stderr.contains("unknown.conf:6: unknown key 'colour' in [system]"), "\(result.stderr)")
        box.dir.write("malformed.conf", text.replacingOccurrences(of: "[slot.B]", with: "[slot.B"))
        result = CLI.slotctl(["boot"], config: box.dir.file("malformed.conf"))
        #expect(result.status == 2)
        #expect(result.stderr.contains("malformed section header"))
        result = CLI.run(CLI.slotctl, ["status"], environment: ["SLOTCTL_CONFIG": box.dir.file("missing.conf")])
        #expect(result.status == 2)
        #expect(result.stderr.contains("missing.conf"))
    }

    @Test func statusAndBootOnDamagedState() throws {
        let box = try provisioned()
        // The newest copy is damaged: the other one is used and the damage shown.
        let newest = StateStore(directory: box.dir.file("state")).snapshot().currentIndex!
        var bytes = box.dir.read("state/state.\(newest)")
        bytes[40] ^= 0x04
        box.dir.write("state/state.\(newest)", bytes: bytes)
        var status = CLI.slotctl(["status"], config: box.configPath)
        #expect(status.status == 0)
        #expect(status.stdout.contains("state.\(newest): CRC mismatch"))
        #expect(CLI.slotctl(["boot", "--dry-run"], config: box.configPath).stdout.assignment("SLOT") == "A")

        // Both damaged: status says so with exit 4, boot picks R and says why.
        let other = 1 - newest
        box.dir.write("state/state.\(other)", bytes: Array(box.dir.read("state/state.\(other)").dropLast(3)))
        status = CLI.slotctl(["status"], config: box.configPath)
        #expect(status.status == 4)
        #expect(status.stdout.contains("CORRUPT"))
        let before = (box.dir.read("state/state.0"), box.dir.read("state/state.1"))
        let boot = CLI.slotctl(["boot"], config: box.configPath)
        #expect(boot.status == 0)
        #expect(boot.stdout.assignment("SLOT") == "R")
        #expect(boot.stdout.assignment("REASON")?.contains("state corrupt") == true)
        #expect(boot.stdout.assignment("ROOT") == box.dir.file("r.img"))
        #expect((box.dir.read("state/state.0"), box.dir.read("state/state.1")) == before, "corrupt copies are left for the post-mortem")
        #expect(String(decoding: box.dir.read("run/booted"), as: UTF8.self).contains("SLOT=R"))
    }

    @Test func missingStateBootsAAndProvisionsIt() throws {
        let box = try Sandbox()
        let boot = CLI.slotctl(["boot"], config: box.configPath)
        #expect(boot.stdout.assignment("SLOT") == "A")
        #expect(boot.stdout.assignment("SEQ") == "1")
        let status = try statusJSON(box)
        #expect(status["booted"] as? String == "A")
    }

    @Test func installFromStandardInput() throws {
        let box = try provisioned()
        let image = patternBytes(300_001, seed: 26)
        let gz = gzipCompress(image)
        let result = CLI.slotctl(["install", "-", "--version", "stdin"], config: box.configPath, stdin: Data(gz))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(box.slotBytes("b.img", count: image.count) == image)
        let truncated = CLI.slotctl(["install", "-"], config: box.configPath, stdin: Data(gz.prefix(gz.count / 2)))
        #expect(truncated.status == 3)
        #expect(truncated.stderr.contains("truncated"))
        let empty = CLI.slotctl(["install", "-"], config: box.configPath, stdin: Data())
        #expect(empty.status == 3)
        #expect(empty.stderr.contains("empty"))
    }

    func statusJSON(_ box: Sandbox) throws -> [String: Any] {
        let output = CLI.slotctl(["status", "--json"], config: box.configPath)
        return try #require(JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any])
    }
}
