import Foundation
import SlotCore
import SlotCrypto

/// A scratch directory removed when the test ends.
public final class TempDirectory {
    public let path: String

    public init(_ name: String = "slotctl-test") {
        let template = NSTemporaryDirectory() + "/\(name)-XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let result = mkdtemp(&bytes) else { fatalError("mkdtemp failed") }
        path = String(cString: result)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func file(_ name: String) -> String { path + "/" + name }

    public func write(_ name: String, _ text: String) {
        _ = FileManager.default.createFile(atPath: file(name), contents: Data(text.utf8))
    }

    public func write(_ name: String, bytes: [UInt8]) {
        _ = FileManager.default.createFile(atPath: file(name), contents: Data(bytes))
    }

    public func read(_ name: String) -> [UInt8] {
        (FileManager.default.contents(atPath: file(name)).map { [UInt8]($0) }) ?? []
    }

    public func makeDirectory(_ name: String) {
        try? FileManager.default.createDirectory(atPath: file(name), withIntermediateDirectories: true)
    }

    /// A sparse file of `size` bytes standing in for a block device.
    public func makeSlotFile(_ name: String, size: Int) {
        _ = FileManager.default.createFile(atPath: file(name), contents: nil)
        truncate(file(name), off_t(size))
    }
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
public func patternBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed | 1
    var bytes = [UInt8](repeating: 0, count: count)
    for index in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        bytes[index] = UInt8(truncatingIfNeeded: state)
    }
    return bytes
}

/// gzip via zlib, for tests that feed compressed images.
public func gzipCompress(_ bytes: [UInt8]) -> [UInt8] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/gzip")
    process.arguments = ["-c", "-n"]
    let input = Pipe(), output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try! process.run()
    let writer = Thread { input.fileHandleForWriting.write(Data(bytes)); try? input.fileHandleForWriting.close() }
    writer.start()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return [UInt8](data)
}

/// A sandbox with file-backed slots A, B, R and its config.
public struct Sandbox {
    public let dir: TempDirectory
    public let configPath: String
    public let config: SystemConfig
    public let manager: SlotManager

    public init(slotSize: Int = 4 << 20, maxTries: Int = 3, extra: String = "") throws {
        dir = TempDirectory("slotctl-sandbox")
        for name in ["a.img", "b.img", "r.img"] { dir.makeSlotFile(name, size: slotSize) }
        dir.makeDirectory("data")
        dir.write("system.conf", """
            [system]
            compatible = test-board
            state = state
            run-dir = run
            max-tries = \(maxTries)
            data = data

            [slot.A]
            device = a.img
            [slot.B]
            device = b.img
            [slot.R]
            device = r.img
            readonly = true
            \(extra)
            """)
        configPath = dir.file("system.conf")
        config = try SystemConfig.load(path: configPath)
        manager = SlotManager(config: config, sha256: CryptoSHA256.factory)
    }

    public func image(_ name: String, size: Int, seed: UInt64) -> (path: String, bytes: [UInt8]) {
        let bytes = patternBytes(size, seed: seed)
        dir.write(name, bytes: bytes)
        return (dir.file(name), bytes)
    }

    /// Pretends the system booted from `slot` (what the boot hook records).
    public func setBooted(_ slot: SlotName) {
        dir.makeDirectory("run")
        dir.write("run/booted", "SLOT=\(slot.rawValue)\n")
    }

    public func slotBytes(_ name: String, count: Int) -> [UInt8] {
        Array(dir.read(name).prefix(count))
    }
}
