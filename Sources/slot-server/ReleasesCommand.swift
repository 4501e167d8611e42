import ArgumentParser
import SlotServer

/// `slot-server releases [--json]`.
struct ReleasesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "releases", abstract: "List releases in deploy order.")

    @OptionGroup var admin: AdminOptions

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        do throws(ServerError) {
            let releases = try await admin.client().releases()
            if json { try? printJSON(ReleaseList(releases: releases)) } else { print(AdminFormatting.releases(releases)) }
        } catch {
            throw exitWith(error)
        }
    }
}
