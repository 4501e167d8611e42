import Foundation
import Synchronization
import SlotWire

/// Keeps the signed ``FreshnessStatement`` that every check answer carries:
/// re-signed when the catalog version changes and otherwise every fifth of
/// its lifetime, never per request, so the check path only copies a string.
/// The catalog refreshes it at each reload; a server that cannot reload its
/// catalog stops renewing, and devices refuse its answers once the last
/// statement expires (fail closed).
final class FreshnessSigner: Sendable {
    private struct Current {
        var version: UInt64
        var signedAt: Int64
        var header: String
    }

    private let privateKey: String
    /// Seconds a statement stays valid.
    let lifetime: Int64
    private let current = Mutex<Current?>(nil)

    init(privateKeyBase64: String, lifetime: Int64) throws(ServerError) {
        guard (try? ReleaseSignature.privateKey(fromBase64: privateKeyBase64)) != nil else {
            throw ServerError(.configuration, "the online key is not a base64 Ed25519 private key")
        }
        self.privateKey = privateKeyBase64
        self.lifetime = max(lifetime, 10)
    }

    /// The `Slot-Freshness` value to send now, if one was signed.
    var header: String? { current.withLock { $0?.header } }

    /// Signs again when `version` is new or the statement is a fifth of its life old.
    func refresh(version: UInt64, now: Int64 = Int64(Date().timeIntervalSince1970)) {
        let due = current.withLock { current in
            guard let current else { return true }
            return current.version != version || now - current.signedAt >= lifetime / 5
        }
        guard due else { return }
        let statement = FreshnessStatement(catalogVersion: version, expiresAt: now + lifetime)
        guard let header = try? statement.signedHeader(privateKeyBase64: privateKey) else { return }
        current.withLock { current in
            // A slower refresh never replaces a newer version.
            if let existing = current, existing.version > version { return }
            current = Current(version: version, signedAt: now, header: header)
        }
    }
}

/// Where `serve` takes the online key from: `--online-key`, else
/// `DATA/online.key`, generated (mode 0600, with `online.pub` beside it) on
/// first start. Replicas on one database must share one key: pass the same
/// file to each.
public enum OnlineKey {
    public static func resolve(file: String?, dataDirectory: String) throws(ServerError) -> (privateKey: String, publicKey: String, source: String) {
        let path = file ?? dataDirectory + "/online.key"
        if file != nil || FileManager.default.fileExists(atPath: path) {
            let key = try KeyFiles.read(path, what: "online key")
            guard let parsed = try? ReleaseSignature.privateKey(fromBase64: key) else {
                throw ServerError(.configuration, "\(path) is not a base64 Ed25519 private key")
            }
            return (key, parsed.publicKey.rawRepresentation.base64EncodedString(), path)
        }
        let pair = try KeyFiles.generate(into: dataDirectory, name: "online")
        return (pair.privateKey, pair.publicKey, path + " (generated)")
    }
}
