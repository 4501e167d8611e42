import ArgumentParser
import SlotServer

/// `slot-server rollout RELEASE (--percent P | --pause | --resume | --arm-start/--arm-end)`.
struct RolloutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout", abstract: "Widen, narrow, pause or resume a release's rollout.")

    @OptionGroup var admin: AdminOptions

    @Argument(help: "The release id (as printed by deploy).")
    var release: String

    @Option(help: "New rollout percentage (0-100).")
    var percent: Double?

    @Flag(help: "Stop offering the release.")
    var pause = false

    @Flag(help: "Offer it again (turns auto-pause off for it unless --auto-pause on).")
    var resume = false

    @Option(help: "on or off: whether failure reports may pause the release by themselves.")
    var autoPause: String?

    @Option(help: "New health gate: devices in trial at once, plus those that confirmed (0: no gate).")
    var maxInTrial: Int?

    @Option(help: "New start of the experiment arm, percent.")
    var armStart: Double?

    @Option(help: "New end of the experiment arm, percent.")
    var armEnd: Double?

    func validate() throws {
        if pause && resume { throw ValidationError("--pause and --resume exclude each other") }
        if (armStart == nil) != (armEnd == nil) { throw ValidationError("--arm-start and --arm-end go together") }
        if let autoPause, !["on", "off"].contains(autoPause) { throw ValidationError("--auto-pause takes on or off") }
        if percent == nil && !pause && !resume && autoPause == nil && armStart == nil && maxInTrial == nil {
            throw ValidationError("give --percent, --pause, --resume, --auto-pause, --max-in-trial or --arm-start/--arm-end")
        }
    }

    func run() async throws {
        do throws(ServerError) {
            var patch = RolloutPatch(rolloutPercent: percent, maxInTrial: maxInTrial)
            if pause { patch.paused = true }
            if resume { patch.paused = false }
            if let autoPause { patch.autoPause = autoPause == "on" }
            if let armStart, let armEnd { patch.arm = ArmRange(start: armStart, end: armEnd) }
            let release = try await admin.client().updateRollout(releaseId: release, patch)
            print(AdminFormatting.releases([release]))
        } catch {
            throw exitWith(error)
        }
    }
}
