import ArgumentParser
import Dispatch
import FoundationEssentials
import Glibc
import SlotCore
import SlotUpdate
import SlotWire
import SlotctlCLI

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Ask the update server whether there is an update for this device.",
        discussion: "Exit code 0: an update is on offer; 1: up to date; otherwise the usual error codes.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        let engine = try UpdateEngine(manager: global.manager())
        let release = try await engine.check()
        if json {
            let object: JSONValue = .object([
                ("available", .bool(release != nil)),
                ("current", .optional(engine.currentVersion())),
                ("version", .optional(release?.version)),
                ("releaseId", .optional(release?.id)),
                ("size", release.map { .uint($0.size) } ?? .null),
            ])
            print(object.serialized)
        } else if let release {
            print("yes: \(release.version) is available (release \(release.id), \(release.size) bytes); running \(engine.currentVersion() ?? "unknown")")
        } else {
            print("no: up to date (\(engine.currentVersion() ?? "unknown"))")
        }
        if release == nil { throw ExitCode(1) }
    }
}

struct UpdateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Check, download and install an update into the inactive slot; never reboots.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print one JSON line per state change and progress step.")
    var json = false

    func run() async throws {
        let engine = try UpdateEngine(manager: global.manager())
        // SIGTERM (the C API's slotctl_cancel_update) and SIGINT cancel the
        // update: it ends cancelled, the target slot left unbootable.
        let cancellers = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { engine.cancel() }
            source.resume()
            return source
        }
        defer { cancellers.forEach { $0.cancel() } }
        let bar = json ? nil : ProgressBar(label: "updating")
        let printer = json ? ProgressPrinter() : nil
        let outcome = try await engine.update { progress in
            if let printer {
                printer.print(progress)
            } else if let detail = progress.detail, progress.bytesDone == 0 {
                Terminal.writeStderr("slotctl: \(detail)\n")
            } else if progress.state == .downloading {
                bar?.update(done: progress.bytesDone, total: progress.bytesTotal)
            }
        }
        bar?.finish()
        guard !json else { return }
        switch outcome {
        case .upToDate:
            print("up to date (\(engine.currentVersion() ?? "unknown"))")
        case .installed(let release, let slot):
            let done = engine.progress
            let delta = done.bytesReused > 0 || done.bytesFetched > 0
                ? " (delta: \(ByteFormat.format(done.bytesReused)) reused, \(ByteFormat.format(done.bytesFetched)) downloaded)" : ""
            print("installed \(release.version) into slot \(slot): ready to reboot\(delta)")
        }
    }
}

/// JSON lines for `update --json`, written in order from whichever thread reports.
final class ProgressPrinter: Sendable {
    func print(_ progress: UpdateProgress) {
        let line = UpdateProgressLine(
            state: progress.state.rawValue, bytesDone: progress.bytesDone, bytesTotal: progress.bytesTotal,
            version: progress.version, releaseId: progress.releaseId,
            error: progress.error.map { .init(code: $0.code.name, exitCode: Int64($0.exitCode), message: $0.description) })
        var delta = line
        if progress.bytesReused > 0 || progress.bytesFetched > 0 {
            delta.bytesReused = progress.bytesReused
            delta.bytesFetched = progress.bytesFetched
        }
        delta.detail = progress.detail
        Terminal.writeStdout(delta.json + "\n")
    }
}

struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Check for updates periodically, install them and report; reboots only when [update] reboot = true.")

    @OptionGroup var global: GlobalOptions

    @Option(help: "Seconds between checks (default: [update] interval).")
    var interval: Double?

    @Option(help: "Stop after this many checks (default: run forever).")
    var cycles: Int?

    func run() async throws {
        let engine = try UpdateEngine(manager: global.manager())
        let daemon = UpdateDaemon(engine: engine, interval: interval)
        await daemon.run(cycles: cycles) { line in
            Terminal.writeStderr("slotctl daemon: \(line)\n")
        }
    }
}
