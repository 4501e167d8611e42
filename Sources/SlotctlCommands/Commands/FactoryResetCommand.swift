import ArgumentParser
import SlotCore

struct FactoryResetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "factory-reset",
        abstract: "Copy R's factory image into an inactive slot, activate it, and mark the other slot bad.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Also empty the configured data directory.")
    var wipeData = false

    func run() throws {
        let manager = try global.manager()
        let bar = ProgressBar(label: "restoring")
        let slot = try manager.factoryReset(wipeData: wipeData) { done, total in bar.update(done: done, total: total) }
        bar.finish()
        print("factory image restored into slot \(slot); it boots next\(wipeData ? "; data wiped" : "")")
    }
}
