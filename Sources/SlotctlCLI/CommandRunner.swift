import ArgumentParser
import Glibc
import SlotCore
import SlotCrypto

/// What `slotctl` and the update module (`slotctl-update`) share: the
/// `--config` option, the argument parsing around it, and one way of turning
/// every failure into a message on stderr and the documented exit code.
public enum CommandRunner {
    /// Parses `arguments` against `root`, runs the command, and exits with
    /// the documented code on failure (the update module's async commands).
    public static func main(_ root: any AsyncParsableCommand.Type, arguments: [String]) async {
        do {
            refuseUnknownCommand(arguments, root: root)
            var command = try root.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(for: error, root)
        }
    }

    /// `main` for a command line whose commands are all synchronous
    /// (slotctl's): it also runs from libslotctl.so's C entry point, where
    /// there is no async main to await in.
    public static func syncMain(_ root: any ParsableCommand.Type, arguments: [String]) {
        do {
            refuseUnknownCommand(arguments, root: root)
            var command = try root.parseAsRoot(arguments)
            try command.run()
        } catch {
            exit(for: error, root)
        }
    }

    /// Turns a failure into its message on stderr and the documented exit code.
    public static func exit(for error: any Error, _ root: any ParsableCommand.Type) -> Never {
        switch error {
        case let error as SlotError:
            Terminal.printError(error.description)
            Glibc.exit(error.exitCode)
        case let code as ExitCode:
            Glibc.exit(code.rawValue)  // an answer (check: 1 = up to date), not an error
        default:
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

    /// A word where the command belongs that names none: said plainly, with
    /// the commands, rather than as argument-parser's "unexpected argument".
    static func refuseUnknownCommand(_ arguments: [String], root: any ParsableCommand.Type) {
        let names = root.configuration.subcommands.map { $0._commandName } + ["help"]
        if let word = splitGlobalOptions(arguments).rest.first, !word.hasPrefix("-"), !names.contains(word) {
            Terminal.printError("unknown command '\(word)' (commands: \(names.dropLast().joined(separator: ", ")))")
            Glibc.exit(2)
        }
    }
}

/// `--config PATH`, shared by every subcommand. The root command declares it
/// too, so that it may come before the command (`slotctl --config PATH
/// status`, as the design spells it) or after it: argument-parser hands a
/// command the value its parent parsed for the same option group.
public struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Config file (default: $SLOTCTL_CONFIG, then /etc/slotctl/system.conf).")
    public var config: String?

    public init() {}

    public func manager() throws(SlotError) -> SlotManager {
        try Self.manager(configPath: config)
    }

    /// The manager for a config path as `--config` gives it (nil: the default).
    public static func manager(configPath: String?) throws(SlotError) -> SlotManager {
        try SlotManager(configPath: configPath, sha256: CryptoSHA256.factory)
    }
}

extension SlotName: ExpressibleByArgument {
    /// Slot names are case-insensitive on the command line (`b` is B).
    public init?(argument: String) {
        self.init(rawValue: argument.uppercased())
    }
}
