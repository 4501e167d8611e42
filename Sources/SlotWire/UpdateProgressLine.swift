import FoundationEssentials

/// One line of `slotctl update --json` (the update module's progress): what
/// the module writes and what libslotctl's C API reads back from it, so the
/// two sides cannot drift apart.
public struct UpdateProgressLine: Codable, Sendable, Equatable {
    public struct Failure: Codable, Sendable, Equatable {
        public var code: String
        public var exitCode: Int64
        public var message: String

        public init(code: String, exitCode: Int64, message: String) {
            self.code = code
            self.exitCode = exitCode
            self.message = message
        }
    }

    /// `idle`, `checking`, `downloading`, `installing`, `ready-to-reboot`,
    /// `up-to-date`, `failed`, `cancelled`.
    public var state: String
    public var bytesDone: UInt64
    public var bytesTotal: UInt64
    public var version: String?
    public var releaseId: String?
    public var error: Failure?
    /// Delta updates: image bytes reused from the device, payload bytes fetched.
    public var bytesReused: UInt64?
    public var bytesFetched: UInt64?
    /// What the update is doing beyond its state.
    public var detail: String?

    public init(state: String, bytesDone: UInt64, bytesTotal: UInt64, version: String? = nil, releaseId: String? = nil, error: Failure? = nil) {
        self.state = state
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.version = version
        self.releaseId = releaseId
        self.error = error
    }

    /// The line as written: keys sorted (the encoder's own order changes from
    /// run to run), absent fields left out.
    public var json: String {
        (try? WireJSON.encoder().encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    public init(json line: String) throws {
        self = try WireJSON.decoder().decode(Self.self, from: Data(line.utf8))
    }
}
