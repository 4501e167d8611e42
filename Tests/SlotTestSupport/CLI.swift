import Foundation
import SlotCore

/// Runs the built `slotctl` (and other programs) as a user would.
public enum CLI {
    public struct Output {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        public init(status: Int32, stdout: String, stderr: String) {
            self.status = status
            self.stdout = stdout
            self.stderr = stderr
        }
    }

    /// The directory holding the built executables: `SLOTCTL_BIN_DIR`, or the
    /// directory of this test bundle (SwiftPM puts both in `.build/debug`).
    public static var binDirectory: String {
        if let dir = ProcessInfo.processInfo.environment["SLOTCTL_BIN_DIR"] { return dir }
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = me.deletingLastPathComponent()
        // .build/debug/slotctlPackageTests.xctest (a file on Linux)
        if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir.path
    }

    public static var slotctl: String { binDirectory + "/slotctl" }
    public static var slotBoot: String { binDirectory + "/slot-boot" }

    public static var available: Bool { FileManager.default.isExecutableFile(atPath: slotctl) }

    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil) -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["NO_COLOR"] = "1"
        env.removeValue(forKey: "SLOTCTL_FAILPOINT")
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        do { try process.run() } catch { return Output(status: -1, stdout: "", stderr: "\(error)") }
        if let stdin {
            let writer = Thread {
                try? input.fileHandleForWriting.write(contentsOf: stdin)
                try? input.fileHandleForWriting.close()
            }
            writer.start()
        }
        let errorData = ReadInBackground(err.fileHandleForReading)
        let outputData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(
            status: process.terminationReason == .uncaughtSignal ? -process.terminationStatus : process.terminationStatus,
            stdout: String(decoding: outputData, as: UTF8.self), stderr: String(decoding: errorData.wait(), as: UTF8.self))
    }

    public static func slotctl(_ arguments: [String], config: String, environment: [String: String] = [:], stdin: Data? = nil) -> Output {
        run(slotctl, ["--config", config] + arguments, environment: environment, stdin: stdin)
    }

    /// Starts a process without waiting, for kill tests.
    public static func start(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Drains a pipe on another thread so a chatty child never blocks.
    public final class ReadInBackground: @unchecked Sendable {
        private var data = Data()
        private let done = DispatchSemaphore(value: 0)
        init(_ handle: FileHandle) {
            Thread { [self] in
                data = handle.readDataToEndOfFile()
                done.signal()
            }.start()
        }
        func wait() -> Data {
            done.wait()
            return data
        }
    }
}

/// A loop device over a file, detached when the test ends.
public final class LoopDevice {
    public let path: String

    public init(file: String) throws {
        let output = CLI.run("/usr/sbin/losetup", ["--find", "--show", file])
        guard output.status == 0 else { throw SlotError(.io, "losetup failed: \(output.stderr)") }
        path = output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    deinit { CLI.run("/usr/sbin/losetup", ["--detach", path]) }

    /// Root, and a kernel that gives us loop devices.
    public static let available: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/losetup") else { return false }
        let dir = TempDirectory("loopcheck")
        dir.makeSlotFile("probe.img", size: 1 << 20)
        return (try? LoopDevice(file: dir.file("probe.img"))) != nil
    }()
}

extension String {
    /// The value of `KEY=` in boot assignments.
    public func assignment(_ key: String) -> String? {
        for line in split(separator: "\n") where line.hasPrefix(key + "=") {
            var value = String(line.dropFirst(key.count + 1))
            if value.hasPrefix("'") && value.hasSuffix("'") { value = String(value.dropFirst().dropLast()) }
            return value
        }
        return nil
    }
}
