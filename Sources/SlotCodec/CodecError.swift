/// Why bytes could not be encoded or decoded. Callers wrap it into their own
/// error (the core's `SlotError`, the server's `ServerError`) so the
/// message reaches the user unchanged.
public struct CodecError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// Not valid compressed data.
        case corrupt
        /// The stream ended before its trailer.
        case truncated
        /// Bytes after the last member that are neither a member nor zero padding.
        case trailingData
        /// zlib refused to start or failed internally.
        case zlib
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
