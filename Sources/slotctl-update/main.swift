import ArgumentParser
import SlotctlCLI

/// The update module: `slotctl check`, `slotctl update` and `slotctl daemon`,
/// the commands that talk to the update server (HTTP over libcurl).
///
/// It is its own executable so that `slotctl`, which runs on every boot
/// (`mark-good`) and in the boot path (`status`, `boot`), loads neither
/// libcurl nor what it brings (TLS, HTTP/2, ...), and a product with its own
/// transport can leave it out: `slotctl check|update|daemon ARGS` execs this program
/// (installed as `$PREFIX/libexec/slotctl/slotctl-update`) with the same
/// arguments, so the command line, its output and its exit codes are those
/// of `slotctl`.
struct SlotctlUpdateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slotctl",
        abstract: "The update module of slotctl: check, update, daemon (run through 'slotctl').",
        subcommands: [CheckCommand.self, UpdateCommand.self, DaemonCommand.self])

    /// `slotctl --config PATH COMMAND`: parsed here, read by the command.
    @OptionGroup var global: GlobalOptions
}

await CommandRunner.main(SlotctlUpdateCommand.self, arguments: Array(CommandLine.arguments.dropFirst()))
