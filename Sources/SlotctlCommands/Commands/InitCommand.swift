import ArgumentParser
import SlotCore

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Provision the state (slots empty unless they verify).",
        discussion: "With --force over an existing state, slots whose recorded image still verifies are kept; the security-version floor is never lowered.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Replace an existing or corrupt state.")
    var force = false

    @Option(name: .long, help: ArgumentHelp("Trust a slot flashed by other means once its first SIZE bytes have this CRC32.", valueName: "SLOT:SIZE:CRC32[:VERSION]"))
    var adopt: [String] = []

    func run() throws {
        let manager = try global.manager()
        var adoptions: [SlotManager.Adoption] = []
        for argument in adopt { adoptions.append(try SlotManager.Adoption(argument: argument)) }
        let state = try manager.initialize(force: force, adopt: adoptions)
        print("provisioned \(manager.config.stateDirectory) (seq \(state.seq))")
        for name in SlotName.allCases where state[name].status != .empty {
            print("  \(name): \(state[name].status.rawValue) \(state[name].version ?? "")")
        }
    }
}
