import Foundation
import SlotTestSupport
import Testing
@testable import SlotCore

/// The same commands on real block devices: loop devices over image files.
@Suite(.serialized, .enabled(if: CLI.available && LoopDevice.available, "needs root, losetup and a built slotctl"))
struct LoopDeviceTests {
    func writeConfig(_ dir: TempDirectory, a: String, b: String, r: String) -> String {
        dir.write("system.conf", """
            [system]
            compatible = loop-board
            state = state
            run-dir = run
            [slot.A]
            device = \(a)
            [slot.B]
            device = \(b)
            [slot.R]
            device = \(r)
            readonly = true
            """)
        return dir.file("system.conf")
    }

    func deviceBytes(_ path: String, count: Int) throws -> [UInt8] {
        let handle = try #require(FileHandle(forReadingAtPath: path))
        defer { try? handle.close() }
        return [UInt8](try handle.read(upToCount: count) ?? Data())
    }

    @Test func installsOntoBlockDevicesAndRespectsTheirSize() throws {
        let dir = TempDirectory("slotctl-loop")
        for name in ["a", "b", "r"] { dir.makeSlotFile("\(name).img", size: 8 << 20) }
        let a = try LoopDevice(file: dir.file("a.img"))
        let b = try LoopDevice(file: dir.file("b.img"))
        let r = try LoopDevice(file: dir.file("r.img"))
        let config = writeConfig(dir, a: a.path, b: b.path, r: r.path)
        #expect(CLI.slotctl(["init"], config: config).status == 0)

        let factory = patternBytes(2 << 20, seed: 41)
        dir.write("factory.img", bytes: factory)
        #expect(CLI.slotctl(["install", dir.file("factory.img"), "--slot", "R", "--provision"], config: config).status == 0)
        let v1 = patternBytes((5 << 20) + 123, seed: 42)
        dir.write("v1.img.gz", bytes: gzipCompress(v1))
        let install = CLI.slotctl(["install", dir.file("v1.img.gz"), "--version", "1.0"], config: config)
        #expect(install.status == 0, "\(install.stderr)")
        #expect(try deviceBytes(a.path, count: v1.count) == v1)
        #expect(try deviceBytes(r.path, count: factory.count) == factory)

        let boot = CLI.slotctl(["boot"], config: config)
        #expect(boot.stdout.assignment("SLOT") == "A")
        #expect(boot.stdout.assignment("ROOT") == a.path)

        // The device's real size (BLKGETSIZE64) is the limit: one byte more is refused.
        dir.write("big.img", bytes: patternBytes((8 << 20) + 1, seed: 43))
        let big = CLI.slotctl(["install", dir.file("big.img")], config: config)
        #expect(big.status == 3)
        #expect(big.stderr.contains("larger than the slot"))
        #expect(try deviceBytes(a.path, count: v1.count) == v1)

        // Exactly the device's size fits.
        let full = patternBytes(8 << 20, seed: 44)
        dir.write("full.img", bytes: full)
        let fits = CLI.slotctl(["install", dir.file("full.img")], config: config)
        #expect(fits.status == 0, "\(fits.stderr)")
        #expect(try deviceBytes(b.path, count: full.count) == full)
    }

    @Test func resolvesLabelsAndUUIDsWithTheProbeAndRefusesAMountedDevice() throws {
        let dir = TempDirectory("slotctl-label")
        let label = "sl" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        for name in ["a", "b", "r"] { dir.makeSlotFile("\(name).img", size: 8 << 20) }
        #expect(CLI.run("/sbin/mke2fs", ["-q", "-F", "-t", "ext4", "-L", label, dir.file("b.img")]).status == 0)
        let uuid = UUID().uuidString.lowercased()
        #expect(CLI.run("/sbin/mke2fs", ["-q", "-F", "-t", "ext4", "-U", uuid, dir.file("r.img")]).status == 0)
        let a = try LoopDevice(file: dir.file("a.img"))
        let b = try LoopDevice(file: dir.file("b.img"))
        let r = try LoopDevice(file: dir.file("r.img"))
        let config = writeConfig(dir, a: a.path, b: "LABEL=\(label)", r: "UUID=\(uuid)")
        #expect(CLI.slotctl(["init"], config: config).status == 0)
        let json = CLI.slotctl(["status", "--json"], config: config).stdout
        let status = try #require(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let slots = try #require(status["slots"] as? [String: [String: Any]])
        #expect(slots["B"]?["device"] as? String == b.path)
        #expect(slots["R"]?["device"] as? String == r.path)

        // FSTYPE comes from the probe too.
        _ = CLI.slotctl(["mark-bad", "A"], config: config)
        let recovery = CLI.slotctl(["boot", "--dry-run"], config: config)
        #expect(recovery.stdout.assignment("ROOT") == r.path)
        #expect(recovery.stdout.assignment("FSTYPE") == "ext4")

        // A mounted device is never written.
        dir.makeDirectory("mnt")
        #expect(CLI.run("/bin/mount", [b.path, dir.file("mnt")]).status == 0)
        defer { CLI.run("/bin/umount", [dir.file("mnt")]) }
        dir.write("x.img", bytes: patternBytes(1 << 20, seed: 45))
        let refused = CLI.slotctl(["install", dir.file("x.img"), "--slot", "B"], config: config)
        #expect(refused.status == 5, "\(refused.stderr)")
        #expect(refused.stderr.contains("in use"))
        #expect(CLI.run("/bin/umount", [dir.file("mnt")]).status == 0)

        // An unknown label is an I/O error naming the label.
        let missing = writeConfig(dir, a: a.path, b: "LABEL=no-such-\(label)", r: r.path)
        let result = CLI.slotctl(["install", dir.file("x.img"), "--slot", "B"], config: missing)
        #expect(result.status == 4)
        #expect(result.stderr.contains("no block device has LABEL=no-such-\(label)"))
    }
}
