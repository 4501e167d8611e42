import Crypto
import Hummingbird

/// Checks `Authorization: Bearer <token>` on admin endpoints. Both sides are
/// hashed first and compared in constant time, so neither the token's bytes
/// nor its length leak through timing.
struct AdminAuthenticator: Sendable {
    private let expected: [UInt8]

    init(token: String) {
        expected = Array(SHA256.hash(data: Array(token.utf8)))
    }

    func require(_ request: Request) throws(ServerError) {
        guard let header = request.headers[.authorization] else {
            throw ServerError(.unauthorized, "admin endpoints need 'Authorization: Bearer <token>'")
        }
        let prefix = "bearer "
        guard header.count > prefix.count, header.prefix(prefix.count).lowercased() == prefix else {
            throw ServerError(.unauthorized, "admin endpoints need a Bearer token")
        }
        guard Self.matches(header.dropFirst(prefix.count), expected) else { throw ServerError(.unauthorized, "wrong admin token") }
    }

    /// Whether `presented` is the token whose SHA-256 is `expectedHash`, in constant time.
    static func matches(_ presented: some StringProtocol, _ expectedHash: [UInt8]) -> Bool {
        let hash = Array(SHA256.hash(data: Array(presented.utf8)))
        var difference: UInt8 = 0
        for (a, b) in zip(hash, expectedHash) { difference |= a ^ b }
        return difference == 0
    }
}
