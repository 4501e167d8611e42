/// The one error type of SlotCore: a code that says what kind of failure it
/// is (and so which exit code a command returns), a message for people, and
/// the underlying cause when there is one.
public struct SlotError: Error, Sendable, CustomStringConvertible {
    public var code: Code
    public var message: String
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        guard let cause else { return message }
        return "\(message): \(cause)"
    }

    /// The process exit code for this error, as documented in the README.
    public var exitCode: Int32 { code.category.exitCode }

    /// What went wrong, finely enough for tests and callers to branch on.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public let category: Category

        private init(_ name: String, _ category: Category) {
            self.name = name
            self.category = category
        }

        public var description: String { name }

        // Usage and configuration (exit 2)
        public static let usage = Code("usage", .usage)
        public static let invalidConfig = Code("invalid-config", .usage)
        public static let unknownSlot = Code("unknown-slot", .usage)
        // Verification (exit 3)
        public static let checksumMismatch = Code("checksum-mismatch", .verification)
        public static let readBackMismatch = Code("read-back-mismatch", .verification)
        public static let imageTooLarge = Code("image-too-large", .verification)
        public static let sizeMismatch = Code("size-mismatch", .verification)
        public static let incompatible = Code("incompatible", .verification)
        public static let badImage = Code("bad-image", .verification)
        public static let badManifest = Code("bad-manifest", .verification)
        public static let badSignature = Code("bad-signature", .verification)
        public static let downgrade = Code("downgrade", .verification)
        /// A check answer whose freshness statement is missing, expired or older than one already seen.
        public static let staleAnswer = Code("stale-answer", .verification)
        // I/O (exit 4)
        public static let io = Code("io", .io)
        /// A path, device or LABEL=/UUID= that names nothing (ENOENT and kin).
        public static let notFound = Code("not-found", .io)
        public static let stateCorrupt = Code("state-corrupt", .io)
        public static let network = Code("network", .io)
        // Refused by the current state (exit 5)
        public static let bootedSlot = Code("booted-slot", .refused)
        public static let readonlySlot = Code("readonly-slot", .refused)
        public static let lockHeld = Code("lock-held", .refused)
        public static let notProvisioned = Code("not-provisioned", .refused)
        public static let alreadyProvisioned = Code("already-provisioned", .refused)
        public static let slotNotUsable = Code("slot-not-usable", .refused)
        public static let stateChanged = Code("state-changed", .refused)
        public static let cancelled = Code("cancelled", .refused)
        public static let bootedUnknown = Code("booted-unknown", .refused)
        /// The update server does not accept this device: not enrolled (and no
        /// enrolment token), revoked, or its requests refused as forged or replayed.
        public static let unauthenticated = Code("unauthenticated", .refused)
    }

    /// The exit-code families of the CLI and the status families of the C API.
    public enum Category: Sendable, Hashable {
        case usage, verification, io, refused

        public var exitCode: Int32 {
            switch self {
            case .usage: 2
            case .verification: 3
            case .io: 4
            case .refused: 5
            }
        }
    }
}
