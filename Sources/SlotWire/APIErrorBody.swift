import FoundationEssentials

/// The JSON body of every 4xx/5xx answer from the update server:
/// `{"error":{"code":"bad-request","message":"..."}}`.
///
/// Shared so a device (or the admin CLI) can show the server's reason instead
/// of a bare status code.
public struct APIErrorBody: Codable, Sendable, Equatable {
    public struct Detail: Codable, Sendable, Equatable {
        /// A stable, machine-readable word (`bad-request`, `unauthorized`, `not-found`, ...).
        public var code: String
        /// A sentence for people.
        public var message: String

        public init(code: String, message: String) {
            self.code = code
            self.message = message
        }
    }

    public var error: Detail

    public init(code: String, message: String) {
        self.error = Detail(code: code, message: message)
    }

    /// What ``WireJSON/encoder()`` writes for this body, without JSONEncoder:
    /// a server refusing a flood of forged requests answers each of them.
    public var json: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(40 + error.code.utf8.count + error.message.utf8.count)
        out += #"{"error":{"code":"#.utf8
        WireJSON.appendString(error.code, to: &out)
        out += #","message":"#.utf8
        WireJSON.appendString(error.message, to: &out)
        out += "}}".utf8
        return out
    }
}
