import ArgumentParser
import Foundation
import SlotServer

/// Prints a ServerError the way a person wants to read it and exits non-zero:
/// 2 for configuration/usage, 3 for refusals by the server (4xx), 1 otherwise.
func exitWith(_ error: ServerError) -> ExitCode {
    FileHandle.standardError.write(Data("slot-server: error: \(error.description)\n".utf8))
    switch error.code {
    case .configuration: return ExitCode(2)
    case .network, .storage, .io, .internal: return ExitCode(1)
    default: return ExitCode(3)
    }
}

func printErr(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
