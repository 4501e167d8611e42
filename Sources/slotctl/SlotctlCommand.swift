import ArgumentParser
import Glibc
import SlotCore

/// `slotctl`: the A/B/R slot manager's command line.
@main
struct SlotctlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slotctl",
        abstract: "A/B/R boot-slot manager and over-the-air updater.",
        discussion: """
            Exit codes: 0 success, 2 usage or configuration, 3 verification (CRC, size, \
            compatible, signature), 4 I/O, 5 refused by the current state (booted slot, \
            R without --provision, lock held, not provisioned).
            """,
        subcommands: [
            InitCommand.self, StatusCommand.self, InstallCommand.self, MarkGoodCommand.self,
            MarkBadCommand.self, SetActiveCommand.self, RecoveryCommand.self, FactoryResetCommand.self,
            BootCommand.self,
        ])

    /// Parses, runs, and turns every failure into a message on stderr and
    /// the documented exit code.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as SlotError {
            Terminal.printError(error.description)
            Glibc.exit(error.exitCode)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)  // --help, --version
            }
            Terminal.printError(fullMessage(for: error))
            // Argument parsing problems are usage errors: exit 2.
            Glibc.exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}

/// `--config PATH`, shared by every subcommand.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Config file (default: $SLOTCTL_CONFIG, then /etc/slotctl/system.conf).")
    var config: String?

    func manager() throws(SlotError) -> SlotManager {
        try SlotManager(configPath: config)
    }
}

extension SlotName: ExpressibleByArgument {
    public init?(argument: String) {
        self.init(rawValue: argument.uppercased())
    }
}
