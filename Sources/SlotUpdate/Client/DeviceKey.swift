import Crypto
import FoundationEssentials
import SlotCore
import SlotWire

/// The device's Ed25519 key pair, made on first use and kept in the state
/// directory (outside A and B, so it survives their updates, and never in a
/// slot image). Its client id comes from the public key
/// (``DeviceAuth/clientId(publicKey:)``): rollouts bucket the device by it,
/// and the server believes it only from a request the key signed.
public struct DeviceKey: Sendable {
    public let privateKey: Curve25519.Signing.PrivateKey
    public var publicKey: Curve25519.Signing.PublicKey { privateKey.publicKey }
    public let clientId: String

    public init(privateKey: Curve25519.Signing.PrivateKey) {
        self.privateKey = privateKey
        self.clientId = DeviceAuth.clientId(publicKey: privateKey.publicKey)
    }

    public static func path(_ config: SystemConfig) -> String { config.stateDirectory + "/device.key" }

    /// The key in the state directory, made (mode 0600) when there is none.
    /// A file that is there but unreadable or malformed is an error, never
    /// silently replaced: that would be a new identity the server does not know.
    public static func load(_ config: SystemConfig) throws(SlotError) -> DeviceKey {
        let path = path(config)
        if FileSystem.exists(path) {
            let bytes = try FileSystem.readFile(path, limit: 256)
            guard let text = String(validating: bytes, as: UTF8.self)?.trimmingWhitespace(), let raw = Data(base64Encoded: text),
                let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
            else {
                throw SlotError(.stateCorrupt, "\(path) is not a base64 Ed25519 private key; move it away to make a new identity (the device must then enrol again)")
            }
            return DeviceKey(privateKey: key)
        }
        let key = Curve25519.Signing.PrivateKey()
        try FileSystem.makeDirectories(config.stateDirectory)
        try FileSystem.writeFileAtomically(path, Array((key.rawRepresentation.base64EncodedString() + "\n").utf8), mode: 0o600)
        return DeviceKey(privateKey: key)
    }

    /// The `Slot-*` fields of a request signed with the key itself.
    func signedHeaders(method: String, path: String, body: [UInt8], timeMillis: Int64) throws(SlotError) -> [String] {
        let canonical = DeviceAuth.canonical(method: method, path: path, timeMillis: timeMillis, clientId: clientId, body: body)
        let signature: Data
        do {
            signature = try privateKey.signature(for: canonical)
        } catch {
            throw SlotError(.io, "signing with the device key failed: \(error)")
        }
        return [
            "\(DeviceAuth.deviceHeader): \(clientId)", "\(DeviceAuth.timeHeader): \(timeMillis)",
            "\(DeviceAuth.signatureHeader): \(signature.base64EncodedString())",
        ]
    }
}
