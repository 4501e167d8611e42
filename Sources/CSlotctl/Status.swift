import SlotCore

/// The status codes of the C API (`SLOTCTL_OK`, `SLOTCTL_ERR_*` in
/// `include/slotctl.h`). 2 to 5 and 8 are the CLI's exit-code families; 6
/// and 7 exist only in the C API.
enum CStatus {
    static let ok: Int32 = 0
    /// Usage or configuration: bad config, unknown slot name, nothing to name.
    static let usage: Int32 = 2
    /// Verification: CRC, size, compatible, signature, downgrade.
    static let verification: Int32 = 3
    /// I/O: devices, files, the network.
    static let io: Int32 = 4
    /// Refused by the current state: booted slot, lock held, not provisioned,
    /// an update already running, cancelled.
    static let refused: Int32 = 5
    /// A required pointer was NULL, or a string was not UTF-8.
    static let invalidArgument: Int32 = 6
    /// A result could not be allocated.
    static let outOfMemory: Int32 = 7
    /// Updates only: the update module (slotctl-update) is not installed;
    /// the CLI's exit code 8.
    static let moduleMissing: Int32 = 8

    static func of(_ error: SlotError) -> Int32 { error.exitCode }
}

/// A failure of the C layer itself (argument checks, allocation), reported
/// like a `SlotError` but with a C-API-only status.
struct CFailure: Error {
    var status: Int32
    var message: String

    init(_ status: Int32, _ message: String) {
        self.status = status
        self.message = message
    }

    init(_ error: SlotError) {
        self.status = CStatus.of(error)
        self.message = error.description
    }

    static func null(_ function: StaticString, _ argument: StaticString) -> CFailure {
        CFailure(CStatus.invalidArgument, "\(function): \(argument) is NULL")
    }
}
