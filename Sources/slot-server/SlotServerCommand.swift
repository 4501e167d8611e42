import ArgumentParser

/// `slot-server`: the update server (`serve`) and its admin client (everything else).
struct SlotServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slot-server",
        abstract: "The slotctl update server and its admin client.",
        subcommands: [
            ServeCommand.self, KeygenCommand.self, DeployCommand.self, RolloutCommand.self, ReleasesCommand.self,
            StatsCommand.self, DevicesCommand.self, EnrollTokenCommand.self, DDITokenCommand.self,
        ])
}

extension SlotServerCommand {
    /// What `@main` does for an AsyncParsableCommand (main.swift needs to run code first).
    static func parseAndRun() async {
        do {
            var command = try await asyncParseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
