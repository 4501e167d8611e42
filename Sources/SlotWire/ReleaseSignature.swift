import Crypto
import FoundationEssentials

/// Ed25519 signing and verification of a ``ReleaseManifest``.
///
/// Keys travel as base64 of their 32-byte raw representation: `release.pub`
/// is what devices and the server hold, `release.key` stays with the operator.
public enum ReleaseSignature {
    public static func sign(_ manifest: ReleaseManifest, privateKeyBase64: String) throws(WireError) -> String {
        try sign(manifest.signingBytes, privateKeyBase64: privateKeyBase64)
    }

    /// Signs any of the release's signed forms (the manifest, its chunk index).
    public static func sign(_ bytes: [UInt8], privateKeyBase64: String) throws(WireError) -> String {
        let key = try privateKey(fromBase64: privateKeyBase64)
        do {
            return try key.signature(for: bytes).base64EncodedString()
        } catch {
            throw WireError("signing failed: \(error)")
        }
    }

    public static func isValid(_ signatureBase64: String, for manifest: ReleaseManifest, publicKeyBase64: String) -> Bool {
        isValid(signatureBase64, for: manifest.signingBytes, publicKeyBase64: publicKeyBase64)
    }

    public static func isValid(_ signatureBase64: String, for bytes: [UInt8], publicKeyBase64: String) -> Bool {
        guard let key = try? publicKey(fromBase64: publicKeyBase64),
            let signature = Data(base64Encoded: signatureBase64.trimmedBase64)
        else { return false }
        return key.isValidSignature(signature, for: bytes)
    }

    public static func publicKey(fromBase64 text: String) throws(WireError) -> Curve25519.Signing.PublicKey {
        guard let raw = Data(base64Encoded: text.trimmedBase64), raw.count == 32,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
        else { throw WireError("not a base64 Ed25519 public key (32 bytes)") }
        return key
    }

    public static func privateKey(fromBase64 text: String) throws(WireError) -> Curve25519.Signing.PrivateKey {
        guard let raw = Data(base64Encoded: text.trimmedBase64), raw.count == 32,
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        else { throw WireError("not a base64 Ed25519 private key (32 bytes)") }
        return key
    }

    /// A new key pair as (private, public), both base64.
    public static func generateKeyPair() -> (privateKey: String, publicKey: String) {
        let key = Curve25519.Signing.PrivateKey()
        return (key.rawRepresentation.base64EncodedString(), key.publicKey.rawRepresentation.base64EncodedString())
    }
}

extension String {
    /// A key or signature as read from a file: surrounding blanks and
    /// newlines dropped (FoundationEssentials has no `trimmingCharacters`).
    var trimmedBase64: String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isBlank($0) }), let last = lastIndex(where: { !isBlank($0) }) else { return "" }
        return String(self[first...last])
    }
}
