import SlotCodec
import Glibc
import SlotTestSupport
import Testing
@testable import SlotCore

@Suite struct UBootEnvironmentTests {
    func sampleEnvironment() throws -> UBootEnvironment {
        try UBootEnvironment([
            EnvironmentVariable("bootcmd", "run distro_bootcmd"), EnvironmentVariable("BOOT_ORDER", "B A"),
            EnvironmentVariable("BOOT_A_LEFT", "3"), EnvironmentVariable("empty", ""), EnvironmentVariable("eq", "a=b=c"),
            EnvironmentVariable("multi", "line1\nline2"),
        ])
    }

    // MARK: - Codec

    @Test(arguments: [false, true])
    func roundTripsACopy(redundant: Bool) throws {
        let env = try sampleEnvironment()
        let copy = try env.encodeCopy(size: 0x400, flag: redundant ? 7 : nil)
        #expect(copy.count == 0x400)
        let header = redundant ? 5 : 4
        // CRC32 little-endian over the whole data area, padding included.
        let crc = CRC32.checksum(Array(copy[header...]))
        #expect(Array(copy[0..<4]) == [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)])
        if redundant { #expect(copy[4] == 7) }
        #expect(copy[header...].starts(with: Array("bootcmd=run distro_bootcmd\0BOOT_ORDER=B A\0".utf8)))
        let decoded = UBootEnvironment.decodeCopy(copy, redundant: redundant)
        #expect(decoded == .valid(env, flag: redundant ? 7 : nil))
        #expect(decoded.environment?.variables == env.variables)
    }

    @Test func theCRCCoversThePadding() throws {
        var copy = try sampleEnvironment().encodeCopy(size: 0x400, flag: nil)
        copy[0x3FF] = 0xFF
        guard case .invalid(let reason) = UBootEnvironment.decodeCopy(copy, redundant: false) else {
            Issue.record("a changed padding byte must break the CRC")
            return
        }
        #expect(reason.contains("CRC mismatch"))
    }

    @Test func paddingMayBeAnythingUnderAValidCRC() throws {
        // mkenvimage pads with 0xFF: the list ends at the empty string.
        var data = Array("a=1\0b=2\0\0".utf8)
        data += [UInt8](repeating: 0xFF, count: 0x400 - 4 - data.count)
        let crc = CRC32.checksum(data)
        let copy = [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)] + data
        #expect(UBootEnvironment.decodeCopy(copy, redundant: false).environment?.variables == [EnvironmentVariable("a", "1"), EnvironmentVariable("b", "2")])
    }

    @Test func entriesWithoutEqualsAreDroppedAndTheLastDuplicateWins() throws {
        let env = try #require(UBootEnvironment.decodeData(ArraySlice(Array("a=1\0junk\0b=2\0a=3\0\0".utf8) + [0, 0])))
        #expect(env.variables == [EnvironmentVariable("a", "3"), EnvironmentVariable("b", "2")])
        #expect(UBootEnvironment.decodeData(ArraySlice(Array("a=1\0b=2".utf8))) == nil)
    }

    @Test func tellsWhyACopyIsInvalid() throws {
        let env = try sampleEnvironment()
        var reasons: [String] = []
        for bytes in [
            [UInt8](repeating: 0xFF, count: 0x400), [UInt8](repeating: 0, count: 0x400),
            { var c = try! env.encodeCopy(size: 0x400, flag: nil); c.swapAt(0, 3); c.swapAt(1, 2); return c }(),
        ] {
            if case .invalid(let reason) = UBootEnvironment.decodeCopy(bytes, redundant: false) { reasons.append(reason) }
        }
        #expect(reasons.count == 3)
        #expect(reasons[0].contains("erased") && reasons[1].contains("all zero") && reasons[2].contains("big-endian"))
    }

    @Test func aFullEnvironmentIsRefused() throws {
        var env = UBootEnvironment()
        try env.set("v", String(repeating: "x", count: 0x400 - 5 - 4))  // "v=" + value + NUL + NUL fills the data area
        #expect(try env.encodeCopy(size: 0x400, flag: 1).count == 0x400)
        try env.set("w", "")
        do {
            _ = try env.encodeCopy(size: 0x400, flag: 1)
            Issue.record("expected a refusal")
        } catch {
            #expect(error.code == .io && error.message.contains("too small") && (error.cause as? Errno) == .noSpace)
        }
    }

    @Test(arguments: ["", "a=b", "nul\u{0}"])
    func refusesNamesTheFormatCannotHold(name: String) {
        var env = UBootEnvironment()
        #expect(throws: SlotError.self) { try env.set(name, "1") }
    }

    /// (flag of copy 0, flag of copy 1) → the copy U-Boot and libubootenv use.
    @Test(arguments: [
        (UInt8(1), UInt8(2), 1), (2, 1, 0), (5, 5, 0), (255, 0, 1), (0, 255, 0), (254, 255, 1), (0, 1, 1), (200, 3, 0),
    ] as [(UInt8, UInt8, Int)])
    func theFlagDecidesBetweenValidCopies(first: UInt8, second: UInt8, expected: Int) {
        let env = UBootEnvironment()
        #expect(UBootEnvironment.currentIndex([.valid(env, flag: first), .valid(env, flag: second)]) == expected)
    }

    @Test func anInvalidCopyNeverWins() {
        let env = UBootEnvironment()
        #expect(UBootEnvironment.currentIndex([.invalid("x"), .valid(env, flag: 0)]) == 1)
        #expect(UBootEnvironment.currentIndex([.valid(env, flag: 0), .invalid("x")]) == 0)
        #expect(UBootEnvironment.currentIndex([.invalid("x"), .invalid("y")]) == nil)
        #expect(UBootEnvironment.currentIndex([.valid(env, flag: nil)]) == 0)
    }

    // MARK: - fw_env.config

    @Test func parsesFwEnvConfigAsTheToolsDo() throws {
        let config = try UBootEnvConfig.parse(path: "/etc/fw_env.config", text: """
            # device      offset   size   sector  count
            /dev/mmcblk0  0x3F8000 4000   200     20

              /dev/mmcblk0\t-0x4000\t0x4000 # the redundant copy at the end
            """)
        #expect(config.isRedundant && config.size == 0x4000)
        #expect(config.copies[0] == UBootEnvConfig.Copy(device: "/dev/mmcblk0", offset: 0x3F8000, size: 0x4000, sectorSize: 0x200, sectorCount: 0x20, line: 2))
        #expect(config.copies[1] == UBootEnvConfig.Copy(device: "/dev/mmcblk0", offset: -0x4000, size: 0x4000, line: 4))

        let single = try UBootEnvConfig.parse(path: "/boot/fw_env.config", text: "uboot.env 010 1000\n")
        #expect(!single.isRedundant)
        // %lli: a leading 0 is octal; sizes are always hex; paths are relative to the config.
        #expect(single.copies == [UBootEnvConfig.Copy(device: "/boot/uboot.env", offset: 8, size: 0x1000, line: 1)])
        #expect(UBootEnvConfig.parseOffset("4096") == 4096 && UBootEnvConfig.parseOffset("-512") == -512 && UBootEnvConfig.parseOffset("09") == nil)
    }

    @Test(arguments: [
        ("", "no environment device"),
        ("# only a comment\n", "no environment device"),
        ("/dev/x 0\n", "expected 'device offset envsize"),
        ("/dev/x zero 0x4000\n", "offset 'zero'"),
        ("/dev/x 0 4k\n", "envsize '4k'"),
        ("/dev/x 0 0\n", "envsize '0'"),
        ("/dev/x 0 0x4000 nope\n", "sectorsize 'nope'"),
        ("/dev/x 0 0x4000\n/dev/y 0 0x2000\n", "differ in size"),
        ("/dev/x 0 0x4000\n/dev/x 0x2000 0x4000\n", "overlap"),
        ("/dev/x 0 0x4000\n/dev/y 0 0x4000\n/dev/z 0 0x4000\n", "third"),
    ])
    func refusesABadFwEnvConfig(text: String, message: String) {
        do {
            _ = try UBootEnvConfig.parse(path: "/etc/fw_env.config", text: text)
            Issue.record("expected a refusal")
        } catch {
            #expect(error.code == .invalidConfig)
            #expect(error.message.contains(message) && error.message.hasPrefix("/etc/fw_env.config"), "\(error.message)")
        }
    }

    // MARK: - Store

    func store(_ dir: TempDirectory, redundant: Bool, size: Int = 0x400) -> UBootEnvironmentStore {
        dir.makeSlotFile("env.bin", size: redundant ? 2 * size : size)
        let hex = String(size, radix: 16)
        let text = redundant ? "env.bin 0 0x\(hex)\nenv.bin 0x\(hex) 0x\(hex)\n" : "env.bin 0 \(hex)\n"
        dir.write("fw_env.config", text)
        return UBootEnvironmentStore(config: try! UBootEnvConfig.load(path: dir.file("fw_env.config")), lockPath: dir.file("lock"))
    }

    @Test func aRedundantEnvironmentAlternatesCopiesAndCountsTheFlag() throws {
        let dir = TempDirectory()
        let store = store(dir, redundant: true)
        #expect(try store.read().currentIndex == nil)
        try store.initialize(try sampleEnvironment())
        var snapshot = try store.read()
        #expect(snapshot.currentIndex == 0 && snapshot.copies[0].flag == 1)
        for step in 1...4 {
            var env = try #require(snapshot.environment)
            try env.set("step", String(step))
            let written = try store.write(env, over: snapshot)
            snapshot = try store.read()
            #expect(snapshot == written)
            #expect(snapshot.currentIndex == step % 2)
            #expect(snapshot.copies[step % 2].flag == UInt8(step + 1))
            #expect(snapshot.environment?["step"] == String(step))
            #expect(snapshot.copies[1 - step % 2].environment?["step"] == (step == 1 ? nil : String(step - 1)))
        }
        #expect(throws: SlotError.self) { try store.initialize(UBootEnvironment()) }
    }

    @Test func aSingleCopyIsRewrittenInPlace() throws {
        let dir = TempDirectory()
        let store = store(dir, redundant: false)
        try store.initialize(try sampleEnvironment())
        let inode = try FileSystem.stat(dir.file("env.bin")).inode
        let env = try store.update { (env) throws(SlotError) in try env.set("BOOT_ORDER", "A B") }
        #expect(env["BOOT_ORDER"] == "A B" && env["bootcmd"] == "run distro_bootcmd")
        #expect(try store.load() == env)
        #expect(try FileSystem.stat(dir.file("env.bin")).inode == inode)
        #expect(dir.read("env.bin").count == 0x400)
    }

    @Test func noValidCopyIsSaidAndNotWrittenOver() throws {
        let dir = TempDirectory()
        let store = store(dir, redundant: true)
        do {
            _ = try store.load()
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .stateCorrupt)
            #expect(error.message.contains("compiled-in default") && error.message.contains("copy 0: all zero") && error.message.contains(dir.file("fw_env.config")))
        }
        #expect(throws: SlotError.self) { try store.write(UBootEnvironment(), over: try store.read()) }
        #expect(dir.read("env.bin").allSatisfy { $0 == 0 })
    }

    @Test func aCopyPastTheEndOfTheFileIsInvalidNotAnError() throws {
        let dir = TempDirectory()
        let store = store(dir, redundant: true)
        try store.initialize(try sampleEnvironment())
        truncate(dir.file("env.bin"), 0x500)
        let snapshot = try store.read()
        #expect(snapshot.currentIndex == 0)
        #expect(snapshot.problems == ["copy 1: '\(dir.file("env.bin"))' ends 256 bytes into the copy at offset 1024"])
    }

    @Test func aNegativeOffsetCountsFromTheEnd() throws {
        let dir = TempDirectory()
        dir.makeSlotFile("disk.img", size: 0x10000)
        dir.write("fw_env.config", "disk.img -0x800 0x400\ndisk.img -0x400 0x400\n")
        let store = UBootEnvironmentStore(config: try UBootEnvConfig.load(path: dir.file("fw_env.config")), lockPath: nil)
        try store.initialize(try sampleEnvironment())
        let bytes = dir.read("disk.img")
        #expect(UBootEnvironment.decodeCopy(Array(bytes[0xF800..<0xFC00]), redundant: true).isValid)
        #expect(bytes[0..<0xF800].allSatisfy { $0 == 0 })
    }

    @Test func refusesMTDAndUBIDevices() throws {
        for device in ["/dev/mtd1", "/dev/ubi0_1", "/dev/mtd0:env", "/dev/null"] {
            let store = UBootEnvironmentStore(config: UBootEnvConfig(path: "/etc/fw_env.config", copies: [.init(device: device, offset: 0, size: 0x400, line: 1)]), lockPath: nil)
            do {
                _ = try store.read()
                Issue.record("expected a refusal of \(device)")
            } catch {
                #expect(error.code == .invalidConfig)
                #expect(error.message.contains(device) && error.message.contains("MTD"))
            }
        }
    }
}
