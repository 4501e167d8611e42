import Crypto
import FoundationEssentials

/// The server's word that its release catalog is current (TUF's timestamp
/// role): the catalog's version number and an expiry a few minutes ahead,
/// signed by the server's online key and attached to every check answer,
/// `200` and `204` alike, in the `Slot-Freshness` header.
///
/// The online key can only say "this is current": releases stay signed by
/// the offline release key. A device that pins the online key refuses an
/// answer whose statement is expired, signed by another key, or older than
/// the newest catalog version it has seen, so a frozen or replaying server
/// holds it back no longer than the expiry.
public struct FreshnessStatement: Codable, Sendable, Equatable {
    /// Grows with every change of the catalog (a publish, a rollout change, a pause).
    public var catalogVersion: UInt64
    /// Seconds since the epoch after which the statement is worthless.
    public var expiresAt: Int64

    public init(catalogVersion: UInt64, expiresAt: Int64) {
        self.catalogVersion = catalogVersion
        self.expiresAt = expiresAt
    }

    public static let headerName = "Slot-Freshness"

    /// `BASE64(JSON).BASE64(Ed25519 signature over those JSON bytes)`: the
    /// bytes signed are the bytes sent, so nothing is re-encoded to verify.
    public func signedHeader(privateKeyBase64: String) throws(WireError) -> String {
        let key = try ReleaseSignature.privateKey(fromBase64: privateKeyBase64)
        let json: Data
        do {
            json = try WireJSON.encoder().encode(self)
        } catch {
            throw WireError("cannot encode the freshness statement: \(error)")
        }
        do {
            return json.base64EncodedString() + "." + (try key.signature(for: json)).base64EncodedString()
        } catch {
            throw WireError("signing the freshness statement failed: \(error)")
        }
    }

    /// The statement in a `Slot-Freshness` value, if `publicKey` signed it.
    /// Untrusted input: bounded, and any malformation is an error.
    public static func verified(header: String, publicKey: Curve25519.Signing.PublicKey) throws(WireError) -> FreshnessStatement {
        guard header.utf8.count <= 1024 else { throw WireError("the freshness statement is longer than 1024 bytes") }
        let parts = header.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let json = Data(base64Encoded: String(parts[0])), let signature = Data(base64Encoded: String(parts[1])) else {
            throw WireError("the freshness statement is not BASE64.BASE64")
        }
        guard publicKey.isValidSignature(signature, for: json) else {
            throw WireError("the freshness statement is not signed by the pinned server key")
        }
        do {
            return try WireJSON.decoder().decode(FreshnessStatement.self, from: json)
        } catch {
            throw WireError("the freshness statement is signed but malformed: \(error)")
        }
    }
}
