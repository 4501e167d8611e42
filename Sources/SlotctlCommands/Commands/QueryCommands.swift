import ArgumentParser
import SlotCore

struct CurrentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "current",
        abstract: "Print the version of the booted slot.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let manager = try global.manager()
        let state = try manager.store.load()
        let booted = try manager.requireBooted("current")
        guard let version = state[booted].version else {
            throw SlotError(.notProvisioned, "slot \(booted) has no recorded version")
        }
        print(version)
    }
}

struct PathCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "path",
        abstract: "Print what to load or mount: the booted slot's device or payload file.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let manager = try global.manager()
        print(try manager.activePath())
    }
}
