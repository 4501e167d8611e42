import ArgumentParser
import Glibc
import SlotCore
// Terminal, ProgressBar, GlobalOptions and the runner, shared with the update
// module; exported so that every command file here sees them.
@_exported import SlotctlCLI

/// `slotctl`: the A/B/R slot manager's command line.
///
/// Every command that works on the slots and the state, without Foundation:
/// `mark-good` runs on every boot. A library, so that the installed `slotctl`
/// is a small launcher calling `slotctl_main` in libslotctl.so, the one copy
/// of the core and the Swift runtime on a device; the SwiftPM `slotctl`
/// executable (tests, `swift run`) calls it directly. `check`, `update` and
/// `daemon` live in the update module (`slotctl-update`, see `UpdateModule`),
/// which is exec'd with the same arguments.
public struct SlotctlCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "slotctl",
        abstract: "A/B/R boot-slot manager and over-the-air updater.",
        discussion: """
            Exit codes: 0 success, 2 usage or configuration, 3 verification (CRC, size, \
            compatible, signature), 4 I/O, 5 refused by the current state (booted slot, \
            R without --provision, lock held, not provisioned), 8 check/update/daemon: \
            the update module is not installed.
            """,
        subcommands: [
            InitCommand.self, StatusCommand.self, InstallCommand.self, MarkGoodCommand.self,
            MarkBadCommand.self, SetActiveCommand.self, RecoveryCommand.self, FactoryResetCommand.self,
            BootCommand.self, CurrentCommand.self, PathCommand.self, CheckCommand.self, UpdateCommand.self,
            DaemonCommand.self,
        ])

    /// `slotctl --config PATH COMMAND`: parsed here, read by the command.
    @OptionGroup var global: GlobalOptions

    public init() {}

    /// Runs the command line `arguments` (without the program name); exits
    /// with the documented code on failure, returns on success.
    public static func run(arguments: [String]) {
        UpdateModule.execIfNeeded(arguments)
        CommandRunner.syncMain(SlotctlCommand.self, arguments: arguments)
    }
}
