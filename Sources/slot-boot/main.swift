import Glibc
import SlotCore

// slot-boot: the boot-time commands, fully static, SlotCore only.
//
// The boot decision, for the initramfs: prints SLOT=, ROOT=, FSTYPE=, SEQ=,
// REASON= on stdout and records them in run-dir/booted. Exits 0 whenever it
// decided (R included); 1 only when it cannot even read its config, and the
// hook then boots R itself.
//
// `slot-boot [--config PATH] mark-good [SLOT]`: the confirmation every healthy
// start runs. The installed `slotctl` launcher execs this for the plain form of
// `slotctl mark-good`, so the boot path never maps libslotctl.so; it speaks as
// slotctl (same messages, same exit codes).

func fail(_ message: String) -> Never {
    var text = "slot-boot: error: \(message)\n"
    text.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    exit(1)
}

/// `slotctl mark-good`, word for word: the same SlotCore call, message and exit code.
func markGood(configPath: String?, slot word: String?, extra: String?) -> Never {
    func refuse(_ message: String, _ code: Int32) -> Never {
        var text = "slotctl: error: \(message)\n"
        text.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
        exit(code)
    }
    if let extra { refuse("unexpected argument '\(extra)'", 2) }
    var slot: SlotName?
    if let word {
        guard let name = SlotName(rawValue: word.uppercased()) else { refuse("'\(word)' is not a slot (A, B or R)", 2) }
        slot = name
    }
    do {
        let confirmed = try SlotManager(configPath: configPath).markGood(slot)
        print(SlotManager.confirmation(of: confirmed))
        exit(0)
    } catch {
        refuse(error.description, error.exitCode)
    }
}

// In a function, not at top level: without the implicit _Concurrency import
// (see the Makefile), top-level variables would be unisolated globals.
func bootMain() {
    var configPath: String?
    var dryRun = false
    var commandLinePath = KernelCommandLine.defaultPath
    let usage = "usage: slot-boot [--config PATH] [--dry-run] [--cmdline FILE]\n       slot-boot [--config PATH] mark-good [SLOT]"
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
        case "mark-good":
            if dryRun || commandLinePath != KernelCommandLine.defaultPath {
                fail("--dry-run and --cmdline belong to the boot decision, not to mark-good")
            }
            markGood(configPath: configPath, slot: arguments.popFirst(), extra: arguments.first)
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
}

bootMain()
