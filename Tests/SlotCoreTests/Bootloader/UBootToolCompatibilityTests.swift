import Foundation
import SlotTestSupport
import Testing
@testable import SlotCore

/// fw_printenv/fw_setenv (Debian libubootenv-tool) and mkenvimage (Debian
/// u-boot-tools) as judges. Environments are files of 0x400-byte copies, so
/// the every-byte tests stay small.
@Suite(.enabled(if: BootloaderTools.haveLibubootenv, "fw_printenv/fw_setenv are not installed (Debian libubootenv-tool; scripts/deps.sh test installs it)"))
struct UBootToolCompatibilityTests {
    static let size = 0x400

    struct Setup {
        let dir: TempDirectory
        let config: String
        let store: UBootEnvironmentStore
        var image: String { dir.file("env.bin") }

        init(redundant: Bool) throws {
            dir = TempDirectory("uboot-env")
            dir.makeSlotFile("env.bin", size: redundant ? 2 * size : size)
            let image = dir.file("env.bin")
            dir.write("fw_env.config", redundant ? "\(image) 0 0x400\n\(image) 0x400 0x400\n" : "\(image) 0x0 400\n")
            config = dir.file("fw_env.config")
            store = UBootEnvironmentStore(config: try UBootEnvConfig.load(path: config), lockPath: dir.file("lock"))
        }

        /// fw_printenv's lines, sorted, or nil when it finds no valid environment.
        func printenv() -> [String]? {
            let output = CLI.run(BootloaderTools.fwPrintenv!, ["-c", config])
            guard output.status == 0 else { return nil }
            return output.stdout.split(separator: "\n").map(String.init).sorted()
        }

        func setenv(_ name: String, _ value: String) throws {
            try BootloaderTools.run(BootloaderTools.fwSetenv, ["-c", config, name, value])
        }

        /// Our reading in fw_printenv's form (libubootenv hides `.flags`).
        func ours() throws -> [String]? {
            try store.read().environment.map(Self.lines)
        }

        static func lines(_ env: UBootEnvironment) -> [String] {
            env.variables.filter { $0.name != ".flags" }.map(\.description).sorted()
        }
    }

    func foreignEnvironment() throws -> UBootEnvironment {
        try UBootEnvironment([EnvironmentVariable("bootcmd", "run slotboot"), EnvironmentVariable("bootdelay", "0"), EnvironmentVariable("eq", "a=b")])
    }

    @Test(arguments: [false, true])
    func bothReadWhatTheOtherWrites(redundant: Bool) throws {
        let setup = try Setup(redundant: redundant)
        try setup.store.initialize(try foreignEnvironment())
        #expect(setup.printenv() == (try setup.ours()))
        #expect(setup.printenv()?.contains("bootcmd=run slotboot") == true)

        try setup.store.update { (env) throws(SlotError) in
            try BootloaderProjection.apply(.uboot, state: sampleBootState(), maxTries: 3, to: &env)
        }
        #expect(setup.printenv() == (try setup.ours()))
        #expect(setup.printenv()?.contains("BOOT_ORDER=B A") == true)

        try setup.setenv("BOOT_B_LEFT", "1")
        try setup.setenv("vendor_var", "kept")
        let env = try setup.store.load()
        #expect(env["BOOT_B_LEFT"] == "1" && env["vendor_var"] == "kept" && env["bootcmd"] == "run slotboot")
        #expect(setup.printenv() == Setup.lines(env))

        try setup.store.update { (env) throws(SlotError) in try env.set("BOOT_R_ONCE", "1") }
        let final = try #require(setup.printenv())
        #expect(final.contains("BOOT_R_ONCE=1") && final.contains("vendor_var=kept") && final.contains("BOOT_B_LEFT=1"))
        #expect(final == (try setup.ours()))
    }

    @Test func flagsCountUpAcrossBothWriters() throws {
        let setup = try Setup(redundant: true)
        try setup.store.initialize(try foreignEnvironment())  // copy 0, flag 1
        func flags() -> [UInt8] { let bytes = setup.dir.read("env.bin"); return [bytes[4], bytes[0x404]] }
        try setup.store.update { (env) throws(SlotError) in try env.set("x", "1") }  // copy 1, flag 2
        #expect(flags() == [1, 2])
        try setup.setenv("x", "2")  // libubootenv: copy 0, flag 3
        #expect(flags() == [3, 2])
        try setup.store.update { (env) throws(SlotError) in try env.set("x", "3") }  // copy 1, flag 4
        #expect(flags() == [3, 4])
        #expect(try setup.store.read().currentIndex == 1)
        #expect(setup.printenv()?.contains("x=3") == true)
    }

    /// Flag pairs, patched into two valid copies (the CRC does not cover the
    /// flag): fw_printenv and we pick the same copy.
    @Test(arguments: [(UInt8(255), UInt8(0)), (0, 255), (7, 7), (9, 8), (8, 9), (254, 255)])
    func bothPickTheSameCopyByFlag(first: UInt8, second: UInt8) throws {
        let setup = try Setup(redundant: true)
        var zero = try foreignEnvironment(), one = zero
        try zero.set("copy", "0")
        try one.set("copy", "1")
        var bytes = try zero.encodeCopy(size: Self.size, flag: first) + (try one.encodeCopy(size: Self.size, flag: second))
        setup.dir.write("env.bin", bytes: bytes)
        let ours = try setup.store.read()
        #expect(setup.printenv()?.contains("copy=\(ours.currentIndex!)") == true)
        #expect(ours.currentIndex == UBootEnvironment.currentIndex([.valid(zero, flag: first), .valid(one, flag: second)]))
        // A write then goes to the other copy and wins for both readers.
        try setup.store.write(try #require(ours.environment).settingCopy("new"), over: ours)
        #expect(setup.printenv()?.contains("copy=new") == true)
        bytes = setup.dir.read("env.bin")
        #expect(bytes[4 + (1 - ours.currentIndex!) * Self.size] == (ours.copies[ours.currentIndex!].flag! &+ 1))
    }

    @Test func aCorruptCopyIsSkippedByBoth() throws {
        let setup = try Setup(redundant: true)
        try setup.store.initialize(try foreignEnvironment())
        try setup.store.update { (env) throws(SlotError) in try env.set("generation", "new") }  // copy 1 is current
        var bytes = setup.dir.read("env.bin")
        bytes[0x400 + 100] ^= 0x01  // damage the current copy
        setup.dir.write("env.bin", bytes: bytes)
        let snapshot = try setup.store.read()
        #expect(snapshot.currentIndex == 0)
        #expect(snapshot.problems.count == 1 && snapshot.problems[0].hasPrefix("copy 1: CRC mismatch"))
        #expect(setup.printenv() == (try setup.ours()))
        #expect(setup.printenv()?.contains { $0.hasPrefix("generation=") } == false)
        // Our next write replaces the damaged copy, and both see it.
        try setup.store.update { (env) throws(SlotError) in try env.set("generation", "repaired") }
        #expect(setup.printenv()?.contains("generation=repaired") == true)
    }

    @Test(arguments: [false, true])
    func noValidCopyIsRefusedByBoth(redundant: Bool) throws {
        let setup = try Setup(redundant: redundant)
        #expect(setup.printenv() == nil)
        #expect(try setup.ours() == nil)
        #expect(throws: SlotError.self) { try setup.store.load() }
    }

    @Test(.enabled(if: BootloaderTools.haveMkenvimage, "mkenvimage is not installed (Debian u-boot-tools)"),
        arguments: [["-s", "0x400"], ["-s", "0x400", "-p", "0"], ["-r", "-s", "0x400"], ["-r", "-s", "0x400", "-p", "0x00"]])
    func readsMkenvimageImages(options: [String]) throws {
        let redundant = options.contains("-r")
        let setup = try Setup(redundant: redundant)
        let source = setup.dir.file("env.txt")
        setup.dir.write("env.txt", "# comment\nbootcmd=run slotboot\nBOOT_ORDER=A B\nBOOT_A_LEFT=3\n\nempty=\n")
        try BootloaderTools.run(BootloaderTools.mkenvimage, options + ["-o", setup.dir.file("copy.bin"), source])
        let copy = setup.dir.read("copy.bin")
        #expect(copy.count == Self.size)
        setup.dir.write("env.bin", bytes: redundant ? copy + [UInt8](repeating: 0, count: Self.size) : copy)
        let env = try setup.store.load()
        #expect(env.variables == [
            EnvironmentVariable("bootcmd", "run slotboot"), EnvironmentVariable("BOOT_ORDER", "A B"), EnvironmentVariable("BOOT_A_LEFT", "3"), EnvironmentVariable("empty", ""),
        ])
        #expect(setup.printenv() == Setup.lines(env))
    }

    @Test(.enabled(if: BootloaderTools.haveMkenvimage, "mkenvimage is not installed (Debian u-boot-tools)"))
    func aBigEndianImageIsRecognised() throws {
        let setup = try Setup(redundant: false)
        setup.dir.write("env.txt", "bootcmd=boot\n")
        try BootloaderTools.run(BootloaderTools.mkenvimage, ["-b", "-s", "0x400", "-o", setup.image, setup.dir.file("env.txt")])
        let snapshot = try setup.store.read()
        #expect(snapshot.environment == nil)
        #expect(snapshot.problems.first?.contains("big-endian") == true)
    }

    /// A write torn after every byte k of the copy being written: fw_printenv
    /// and we agree, and of redundant copies the old one wins until the new
    /// one is complete (never a mix, never nothing).
    @Test(arguments: [false, true])
    func tornWriteAtEveryByteReadsTheSameByBoth(redundant: Bool) throws {
        let setup = try Setup(redundant: redundant)
        var old = try foreignEnvironment()
        try BootloaderProjection.apply(.uboot, state: sampleBootState(), maxTries: 3, to: &old)
        try setup.store.initialize(old)
        if redundant { try setup.store.write(old, over: try setup.store.read()) }  // both copies valid
        let before = setup.dir.read("env.bin")
        let snapshot = try setup.store.read()
        var new = old
        var next = sampleBootState()
        next[.B].tries = 1
        next[.A].priority = 3
        try BootloaderProjection.apply(.uboot, state: next, maxTries: 3, to: &new)
        let target = redundant ? 1 - snapshot.currentIndex! : 0
        let flag: UInt8? = redundant ? snapshot.copies[snapshot.currentIndex!].flag! &+ 1 : nil
        let copy = try new.encodeCopy(size: Self.size, flag: flag)
        let offset = target * Self.size

        let tornDir = "torn"
        setup.dir.makeDirectory(tornDir)
        for k in 0...Self.size {
            var bytes = before
            bytes.replaceSubrange(offset..<(offset + k), with: copy[0..<k])
            setup.dir.write("\(tornDir)/\(k)", bytes: bytes)
        }
        let printenv = BootloaderTools.fwPrintenv!
        _ = try BootloaderTools.bash("""
            cd '\(setup.dir.file(tornDir))'
            for k in $(seq 0 \(Self.size)); do
                cp $k '\(setup.image)'
                if '\(printenv)' -c '\(setup.config)' > $k.out 2>/dev/null; then :; else echo INVALID > $k.out; fi
            done
            """)

        let oldLines = Setup.lines(old), newLines = Setup.lines(new)
        var seen: [String: [Int]] = [:]
        for k in 0...Self.size {
            setup.dir.write("env.bin", bytes: setup.dir.read("\(tornDir)/\(k)"))
            let ours = try setup.ours()
            let tool = setup.dir.text("\(tornDir)/\(k).out")
            let toolLines: [String]? = tool == "INVALID\n" ? nil : tool.split(separator: "\n").map(String.init).sorted()
            #expect(toolLines == ours, "torn at byte \(k)")
            let outcome = ours == oldLines ? "old" : ours == newLines ? "new" : ours == nil ? "no valid copy (default environment)" : "a mix"
            seen[outcome, default: []].append(k)
            if redundant {
                #expect(outcome == "old" || outcome == "new", "torn at byte \(k): \(outcome)")
                if k < Self.size { #expect(outcome == "old" || copy[k...] == before[(offset + k)..<(offset + Self.size)], "torn at byte \(k)") }
            } else {
                #expect(outcome != "a mix", "torn at byte \(k)")
            }
        }
        #expect(seen["new"]?.contains(Self.size) == true)
        for (outcome, ks) in seen.sorted(by: { $0.value[0] < $1.value[0] }) {
            print("U-Boot env torn (\(redundant ? "redundant" : "single")): \(outcome): k in \(GrubEditenvCompatibilityTests.ranges(ks))")
        }
    }
}

extension UBootEnvironment {
    fileprivate func settingCopy(_ value: String) throws -> UBootEnvironment {
        var env = self
        try env.set("copy", value)
        return env
    }
}
