import ArgumentParser
import Glibc
import SlotCore
import SlotCrypto

/// What `slotctl` and the update module (`slotctl-update`) share: the
/// `--config` option, the argument parsing around it, and one way of turning
/// every failure into a message on stderr and the documented exit code.
public enum CommandRunner {
    /// Parses `arguments` against `root`, runs the command, and exits with
    /// the documented code on failure.
    public static func main(_ root: any ParsableCommand.Type, arguments: [String]) async {
        do {
            var command = try root.parseAsRoot(movingGlobalOptions(arguments, root: root))
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
            let code = root.exitCode(for: error)
            if code == .success {
                root.exit(withError: error)  // --help, --version
            }
            Terminal.printError(root.fullMessage(for: error))
            // Argument parsing problems are usage errors: exit 2.
            Glibc.exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }

    /// `--config PATH` (or `--config=PATH`) before the subcommand, and the rest.
    public static func splitGlobalOptions(_ arguments: [String]) -> (leading: [String], rest: ArraySlice<String>) {
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
        return (leading, rest)
    }

    /// `slotctl --config PATH status` is how the design spells it; the
    /// parser wants options after the subcommand, so move them there.
    public static func movingGlobalOptions(_ arguments: [String], root: any ParsableCommand.Type) -> [String] {
        let (leading, rest) = splitGlobalOptions(arguments)
        let names = root.configuration.subcommands.map { $0._commandName } + ["help"]
        if let word = rest.first, !word.hasPrefix("-"), !names.contains(word) {
            Terminal.printError("unknown command '\(word)' (commands: \(names.dropLast().joined(separator: ", ")))")
            Glibc.exit(2)
        }
        guard !leading.isEmpty, let subcommand = rest.first else { return arguments }
        return [subcommand] + leading + rest.dropFirst()
    }
}

/// `--config PATH`, shared by every subcommand.
public struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Config file (default: $SLOTCTL_CONFIG, then /etc/slotctl/system.conf).")
    public var config: String?

    public init() {}

    public func manager() throws(SlotError) -> SlotManager {
        try SlotManager(configPath: config, sha256: CryptoSHA256.factory)
    }
}

extension SlotName: ExpressibleByArgument {
    public init?(argument: String) {
        self.init(rawValue: argument.uppercased())
    }
}
