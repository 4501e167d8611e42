import SlotCodec
import Hummingbird
import SlotWire

/// Every refusal or failure of the server: the HTTP status it maps to, a stable
/// code for scripts, a message for people and the underlying cause for the log.
///
/// Routes throw it; ``ErrorMiddleware`` turns it (and anything else thrown)
/// into a JSON ``APIErrorBody`` so no client ever sees an empty 500.
public struct ServerError: Error, CustomStringConvertible {
    public enum Code: String, Sendable {
        case badRequest = "bad-request"
        case unauthorized
        /// Device authentication: the device must enrol (again).
        case deviceUnknown = "device-unknown"
        /// Device authentication: an operator revoked this device.
        case deviceRevoked = "device-revoked"
        /// Device authentication: the session ticket expired or does not hold; open a new one.
        case sessionInvalid = "session-invalid"
        /// Device authentication: the request's time is too far from the server's clock
        /// (the answer's `Slot-Time` says the server's, so a device without a clock can adjust).
        case clockSkew = "clock-skew"
        case notFound = "not-found"
        case methodNotAllowed = "method-not-allowed"
        case conflict
        case payloadTooLarge = "payload-too-large"
        case rangeNotSatisfiable = "range-not-satisfiable"
        case rateLimited = "rate-limited"
        case badSignature = "bad-signature"
        case storage
        case io
        case configuration
        case network
        case `internal`

        /// The status a code answers with, unless a caller picks another.
        var defaultStatus: HTTPResponse.Status {
            switch self {
            case .badRequest, .badSignature: .badRequest
            case .unauthorized, .deviceUnknown, .deviceRevoked, .sessionInvalid, .clockSkew: .unauthorized
            case .notFound: .notFound
            case .methodNotAllowed: .methodNotAllowed
            case .conflict: .conflict
            case .payloadTooLarge: .contentTooLarge
            case .rangeNotSatisfiable: .rangeNotSatisfiable
            case .rateLimited: .tooManyRequests
            case .storage, .io, .configuration, .network, .internal: .internalServerError
            }
        }
    }

    public var code: Code
    public var status: HTTPResponse.Status
    public var message: String
    public var cause: (any Error)?
    /// Extra response headers (e.g. `Content-Range: bytes */N` on a 416).
    public var headers: HTTPFields

    public init(
        _ code: Code, _ message: String, cause: (any Error)? = nil,
        status: HTTPResponse.Status? = nil, headers: HTTPFields = [:]
    ) {
        self.code = code
        self.status = status ?? code.defaultStatus
        self.message = message
        self.cause = cause
        self.headers = headers
    }

    /// For the log. A cause with a debug description gives that: PostgresNIO's
    /// `PSQLError` says only "Generic description…" otherwise.
    public var description: String {
        guard let cause else { return message }
        if let detailed = cause as? any CustomDebugStringConvertible { return "\(message) (\(detailed.debugDescription))" }
        return "\(message) (\(cause))"
    }

    public static func badRequest(_ message: String, cause: (any Error)? = nil) -> ServerError {
        ServerError(.badRequest, message, cause: cause)
    }

    public static func notFound(_ message: String) -> ServerError { ServerError(.notFound, message) }

    /// `429` with the seconds to wait in `Retry-After`.
    public static func rateLimited(_ message: String, retryAfter seconds: Int) -> ServerError {
        ServerError(.rateLimited, message, headers: [.retryAfter: String(seconds)])
    }

    public static func conflict(_ message: String) -> ServerError { ServerError(.conflict, message) }

    public static func storage(_ message: String, cause: (any Error)? = nil) -> ServerError {
        ServerError(.storage, message, cause: cause)
    }

    public static func io(_ message: String, cause: (any Error)? = nil) -> ServerError {
        ServerError(.io, message, cause: cause)
    }

    /// The body sent to the client. Server-side failures do not leak their cause.
    var body: APIErrorBody { APIErrorBody(code: code.rawValue, message: message) }

    /// The fields and the JSON body of the answer, the same on either path
    /// (``ErrorMiddleware``, ``CheckFastPathHandler``).
    var answer: (fields: HTTPFields, body: [UInt8]) {
        var fields = headers
        fields[.contentType] = "application/json"
        if status == .unauthorized {
            fields[.wwwAuthenticate] = #"Bearer realm="slot-server""#
        }
        return (fields, body.json)
    }
}

extension ServerError {
    /// A payload the codec refuses is the client's mistake (400); a zlib
    /// that cannot start is ours.
    init(_ codec: CodecError) {
        self.init(codec.code == .zlib ? .internal : .badRequest, "the gzip payload is refused: \(codec.message)", cause: codec)
    }
}
