import ArgumentParser
import Glibc
import SlotCore
import SlotCrypto

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
            BootCommand.self, CurrentCommand.self, PathCommand.self, CheckCommand.self, UpdateCommand.self,
            DaemonCommand.self,
        ])

    /// Parses, runs, and turns every failure into a message on stderr and
    /// the documented exit code.
    static func main() async {
        do {
            var command = try parseAsRoot(movingGlobalOptions(Array(CommandLine.arguments.dropFirst())))
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as SlotError {
            Terminal.printError(error.description)
            Glibc.exit(error.exitCode)
        } catch let code as ExitCode {
            Glibc.exit(code.rawValue)  // an answer (check: 1 = up to date), not an error
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

extension SlotctlCommand {
    /// `slotctl --config PATH status` is how the design spells it; the
    /// parser wants options after the subcommand, so move them there.
    static func movingGlobalOptions(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var rest = arguments[...]
        while let first = rest.first {
            if first == "--config", rest.count >= 2 {
                leading += rest.prefix(2)
                rest = rest.dropFirst(2)
            } else if first.hasPrefix("--config=") {
                leading.append(first)
                rest = rest.dropFirst()
            } else {
                break
            }
        }
        let names = configuration.subcommands.map { $0._commandName } + ["help"]
        if let word = rest.first, !word.hasPrefix("-"), !names.contains(word) {
            Terminal.printError("unknown command '\(word)' (commands: \(names.dropLast().joined(separator: ", ")))")
            Glibc.exit(2)
        }
        guard !leading.isEmpty, let subcommand = rest.first else { return arguments }
        return [subcommand] + leading + rest.dropFirst()
    }
}

/// `--config PATH`, shared by every subcommand.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Config file (default: $SLOTCTL_CONFIG, then /etc/slotctl/system.conf).")
    var config: String?

    func manager() throws(SlotError) -> SlotManager {
        try SlotManager(configPath: config, sha256: CryptoSHA256.factory)
    }
}

extension SlotName: ExpressibleByArgument {
    public init?(argument: String) {
        self.init(rawValue: argument.uppercased())
    }
}
