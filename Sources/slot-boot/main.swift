import Glibc
import SlotCore

// slot-boot: the boot decision alone, for the initramfs. Fully static,
// SlotCore only. Prints SLOT=, ROOT=, FSTYPE=, SEQ=, REASON= on stdout and
// records them in run-dir/booted. Exits 0 whenever it decided (R included);
// 1 only when it cannot even read its config, and the hook then boots R itself.

func fail(_ message: String) -> Never {
    var text = "slot-boot: error: \(message)\n"
    text.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    exit(1)
}

var configPath: String?
var dryRun = false
var commandLinePath = KernelCommandLine.defaultPath
let usage = "usage: slot-boot [--config PATH] [--dry-run] [--cmdline FILE]"
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--config":
        guard let value = arguments.popFirst() else { fail("--config needs a path") }
        configPath = value
    case "--dry-run":
        dryRun = true
    case "--cmdline":
        guard let value = arguments.popFirst() else { fail("--cmdline needs a file") }
        commandLinePath = value
    case "-h", "--help":
        print(usage)
        exit(0)
    default:
        fail("unknown argument '\(argument)' (\(usage))")
    }
}

let config: SystemConfig
do {
    config = try SystemConfig.load(path: SystemConfig.path(explicit: configPath))
} catch {
    fail(error.description)
}

// With a bootloader backend, the bootloader chose: its slotctl.slot=.
let commandLine = config.bootloader == .initramfs ? nil : KernelCommandLine.read(path: commandLinePath)

// The state directory is used where it is; only when it is absent and
// [boot] names a state device is that device mounted for the decision.
var mount: StateMount?
var stateDirectory = config.stateDirectory
if let boot = config.boot, !FileSystem.exists(config.stateDirectory) {
    do {
        mount = try StateMount.mount(boot, runDirectory: config.runDirectory)
        stateDirectory = mount!.stateDirectory
    } catch {
        let result = BootRunner(config: config).fallbackToRecovery(reason: "state unreachable: \(error)", commandLine: commandLine)
        print(result.assignments.shellText, terminator: "")
        exit(0)
    }
}

let result = BootRunner(config: config, stateDirectory: stateDirectory).run(dryRun: dryRun, commandLine: commandLine)
do {
    try mount?.unmount()
} catch {
    var text = "slot-boot: warning: \(error)\n"
    text.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
print(result.assignments.shellText, terminator: "")
