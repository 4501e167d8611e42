import ArgumentParser
import Glibc
import SlotCore

/// `slotctl check|update|daemon` run the update module, a separate program
/// that links libcurl, so that `slotctl` itself (every boot runs
/// `mark-good`) never loads it. The module is exec'd in place of this process with the same
/// arguments: same pid (systemd's `slotctl daemon`), same stdin, stdout,
/// stderr and exit code.
///
/// Where it is looked for, in order:
/// 1. `$SLOTCTL_UPDATE_MODULE`, a path (tests, unusual layouts);
/// 2. `<dir of slotctl>/../libexec/slotctl/slotctl-update` (`make install`);
/// 3. `<dir of slotctl>/slotctl-update` (a build directory).
/// None there: exit 8, "the update module is not installed".
enum UpdateModule {
    static let commands: Set<String> = ["check", "update", "daemon"]
    /// The exit code when the module is missing (README: exit codes).
    static let missingExitCode: Int32 = 8

    /// Execs the module when the command is one of its commands (or help
    /// for one); returns otherwise.
    static func execIfNeeded(_ arguments: [String]) {
        let rest = CommandRunner.splitGlobalOptions(arguments).rest
        guard let word = rest.first else { return }
        let command = word == "help" ? rest.dropFirst().first : word
        guard let command, commands.contains(command) else { return }
        run(command, arguments)
    }

    static func run(_ command: String, _ arguments: [String]) -> Never {
        let candidates = candidatePaths()
        guard let path = candidates.first(where: { access($0, X_OK) == 0 }) else {
            Terminal.printError(
                "'slotctl \(command)' needs the update module, which is not installed (looked for \(candidates.joined(separator: ", ")))")
            exit(missingExitCode)
        }
        var argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) }
        argv.append(nil)
        execv(path, &argv)
        let reason = String(cString: strerror(errno))
        Terminal.printError("'slotctl \(command)': cannot run the update module \(path): \(reason)")
        exit(missingExitCode)
    }

    static func candidatePaths() -> [String] {
        if let explicit = getenv("SLOTCTL_UPDATE_MODULE") { return [String(cString: explicit)] }
        guard let me = executablePath(), let slash = me.lastIndex(of: "/") else {
            return ["/usr/libexec/slotctl/slotctl-update"]
        }
        let dir = String(me[..<slash])
        return [dir + "/../libexec/slotctl/slotctl-update", dir + "/slotctl-update"]
    }

    /// This program's path, symlinks resolved (`/proc/self/exe`).
    static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// `slotctl check|update|daemon` as the parser and `--help` see them; their
/// real definitions are in the update module, which `UpdateModule` execs
/// before any parsing, so these never run there.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Ask the update server whether there is an update for this device.",
        discussion: "Exit code 0: an update is on offer; 1: up to date; otherwise the usual error codes.")
    @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
    func run() { UpdateModule.run("check", ["check"] + arguments) }
}

struct UpdateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Check, download and install an update into the inactive slot; never reboots.")
    @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
    func run() { UpdateModule.run("update", ["update"] + arguments) }
}

struct DaemonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Check for updates periodically, install them and report; reboots only when [update] reboot = true.")
    @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
    func run() { UpdateModule.run("daemon", ["daemon"] + arguments) }
}
