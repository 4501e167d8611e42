import FoundationEssentials
import SlotCore
import SlotWire

/// Everything checked about a release before a byte of it is written: the
/// manifest holds together, its Ed25519 signature verifies (when a public
/// key is configured, unsigned or badly signed releases are refused), it is
/// for this device, and it is not below the anti-rollback floor.
public struct ReleaseVerifier: Sendable {
    public let compatible: String
    public let publicKey: String?

    public init(compatible: String, publicKey: String?) {
        self.compatible = compatible
        self.publicKey = publicKey
    }

    public func verify(_ release: Release, securityFloor: UInt64) throws(SlotError) {
        let manifest = release.manifest
        do {
            try manifest.validate()
        } catch {
            throw SlotError(.badManifest, "release \(release.id) has a malformed manifest: \(error.message)")
        }
        if let publicKey {
            guard ReleaseSignature.isValid(release.signature, for: manifest, publicKeyBase64: publicKey) else {
                throw SlotError(.badSignature, "release \(release.id) (\(release.version)) is not signed by the configured release key; refused")
            }
        }
        guard release.compatible == compatible else {
            throw SlotError(.incompatible, "release \(release.id) is for '\(release.compatible)', this system is '\(compatible)'")
        }
        guard release.securityVersion >= securityFloor else {
            throw SlotError(.downgrade, "release \(release.id) has security version \(release.securityVersion), below this system's floor \(securityFloor); refused")
        }
    }

    /// The configured public key file's contents (base64), checked.
    public static func loadPublicKey(path: String?) throws(SlotError) -> String? {
        guard let path else { return nil }
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path, limit: 4096)
        } catch {
            throw SlotError(.invalidConfig, "[update] public-key: cannot read '\(path)'", cause: error.cause)
        }
        let text = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        do {
            _ = try ReleaseSignature.publicKey(fromBase64: text)
        } catch {
            throw SlotError(.invalidConfig, "[update] public-key '\(path)': \(error.message)")
        }
        return text
    }
}
