import Foundation
import SlotCore
import SlotTestSupport

/// The Debian tools the bootloader tests use as judges (scripts/deps.sh test
/// installs them): grub-editenv (grub-common), fw_printenv and fw_setenv
/// (libubootenv-tool), mkenvimage (u-boot-tools).
enum BootloaderTools {
    static func path(_ name: String) -> String? {
        let searched = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for directory in searched + ["/usr/bin", "/usr/sbin", "/bin", "/sbin"] {
            let candidate = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static var grubEditenv: String? { path("grub-editenv") }
    static var fwPrintenv: String? { path("fw_printenv") }
    static var fwSetenv: String? { path("fw_setenv") }
    static var mkenvimage: String? { path("mkenvimage") }

    static var haveGrub: Bool { grubEditenv != nil }
    static var haveLibubootenv: Bool { fwPrintenv != nil && fwSetenv != nil }
    static var haveMkenvimage: Bool { mkenvimage != nil }

    /// Runs a tool that must succeed, returning its stdout.
    @discardableResult
    static func run(_ tool: String?, _ arguments: [String], stdin: String? = nil) throws -> String {
        guard let tool else { throw ToolError(message: "tool not installed") }
        let output = CLI.run(tool, arguments, stdin: stdin.map { Data($0.utf8) })
        guard output.status == 0 else {
            throw ToolError(message: "\(tool) \(arguments.joined(separator: " ")) exited \(output.status): \(output.stderr)")
        }
        return output.stdout
    }

    /// Runs a bash script (one process for many tool runs, so the
    /// every-byte tests stay cheap).
    static func bash(_ script: String) throws -> String {
        let output = CLI.run("/bin/bash", ["-euo", "pipefail", "-c", script])
        guard output.status == 0 else { throw ToolError(message: "script exited \(output.status): \(output.stderr)") }
        return output.stdout
    }

    struct ToolError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}

extension TempDirectory {
    func bytes(_ name: String) -> [UInt8] { read(name) }
    func text(_ name: String) -> String { String(decoding: read(name), as: UTF8.self) }
}

/// A state with both slots installed, B newer and on trial: the common case.
func sampleBootState(recoveryOnce: Bool = false) -> SystemState {
    var state = SystemState()
    state[.A].status = .good
    state[.A].priority = 1
    state[.A].tries = 3
    state[.B].status = .ready
    state[.B].priority = 2
    state[.B].tries = 2
    state.recoveryOnce = recoveryOnce
    return state
}
