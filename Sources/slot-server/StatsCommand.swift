import ArgumentParser
import SlotServer

/// `slot-server stats RELEASE [--json]`.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "How a release is doing: offered, running, reports, failures, paused.")

    @OptionGroup var admin: AdminOptions

    @Argument(help: "The release id.")
    var release: String

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        do throws(ServerError) {
            let stats = try await admin.client().stats(releaseId: release)
            if json { try? printJSON(stats) } else { print(AdminFormatting.stats(stats)) }
        } catch {
            throw exitWith(error)
        }
    }
}
