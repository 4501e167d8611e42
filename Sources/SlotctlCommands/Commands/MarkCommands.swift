import ArgumentParser
import SlotCore

struct MarkGoodCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mark-good",
        abstract: "Confirm a slot after a successful start: status good, tries re-armed.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Slot to confirm (default: the booted slot).")
    var slot: SlotName?

    func run() throws {
        try Self.confirm(try global.manager(), slot)
    }

    static func confirm(_ manager: SlotManager, _ slot: SlotName?) throws(SlotError) {
        let confirmed = try manager.markGood(slot)
        if confirmed == .R {
            print("R has no boot counter: nothing to confirm")
        } else {
            print("slot \(confirmed) marked good")
        }
    }

    /// `[--config PATH] mark-good [SLOT]`, the form every boot runs, without
    /// argument-parser: its reflection over the command types costs more CPU
    /// than the state I/O (Benchmarks/footprint.sh). Any other form (an
    /// option, `--help`, a slot name that is not one) returns false and goes
    /// through argument-parser as before.
    static func runWithoutParser(_ arguments: [String]) -> Bool {
        let (leading, rest) = CommandRunner.splitGlobalOptions(arguments)
        guard rest.first == "mark-good", rest.count <= 2 else { return false }
        var slot: SlotName?
        if let word = rest.dropFirst().first {
            guard !word.hasPrefix("-"), let name = SlotName(rawValue: word.uppercased()) else { return false }
            slot = name
        }
        // The last --config wins, as with argument-parser.
        var config: String?
        var words = leading[...]
        while let word = words.popFirst() {
            config = word == "--config" ? words.popFirst() : String(word.dropFirst("--config=".count))
        }
        do {
            try confirm(try GlobalOptions.manager(configPath: config), slot)
        } catch {
            CommandRunner.exit(for: error, SlotctlCommand.self)
        }
        return true
    }
}

struct MarkBadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mark-bad",
        abstract: "Give up on a slot: it is not booted again until reinstalled or re-activated.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Slot to mark bad (A or B).")
    var slot: SlotName

    func run() throws {
        try global.manager().markBad(slot)
        print("slot \(slot) marked bad")
    }
}

struct SetActiveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-active",
        abstract: "Make a slot the next to boot (a bad one is re-verified against its recorded CRC32 first).")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Slot to activate (A or B).")
    var slot: SlotName

    @Flag(help: "Activate a bad slot without re-verifying its bytes.")
    var force = false

    func run() throws {
        try global.manager().setActive(slot, force: force)
        print("slot \(slot) boots next")
    }
}

struct RecoveryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery",
        abstract: "Boot the recovery slot R once, at the next boot.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.manager().requestRecovery()
        print("the next boot starts R once")
    }
}
