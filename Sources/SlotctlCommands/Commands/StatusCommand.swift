import ArgumentParser
import SlotCore

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the slots, the booted slot, what the next boot would choose, and recent events.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print JSON (the keys are a stable contract).")
    var json = false

    func run() throws {
        let report = try global.manager().status()
        if json {
            print(report.json.serialized)
        } else {
            print(StatusTable.render(report), terminator: "")
        }
        // Still exit non-zero when there is no usable state, after showing it.
        if report.state == nil {
            throw report.stateMissing
                ? SlotError(.notProvisioned, "the state is not provisioned")
                : SlotError(.stateCorrupt, "both copies of the state are unusable")
        }
    }
}
