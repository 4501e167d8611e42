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
        print(SlotManager.confirmation(of: try global.manager().markGood(slot)))
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
