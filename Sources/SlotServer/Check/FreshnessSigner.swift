import Crypto
import Foundation
import SlotCodec
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

    /// nil until the key is known: a key kept in the database is read at start.
    private let privateKey = Mutex<String?>(nil)
    /// Seconds a statement stays valid.
    let lifetime: Int64
    private let current = Mutex<Current?>(nil)
    /// How many statements were signed: what changed when it changes, read without the lock.
    private let signed = Atomic<UInt64>(0)

    init(lifetime: Int64) {
        self.lifetime = max(lifetime, 10)
    }

    convenience init(privateKeyBase64: String, lifetime: Int64) throws(ServerError) {
        self.init(lifetime: lifetime)
        try use(privateKeyBase64)
    }

    /// Signs with `privateKeyBase64` from now on.
    func use(_ privateKeyBase64: String) throws(ServerError) {
        guard (try? ReleaseSignature.privateKey(fromBase64: privateKeyBase64)) != nil else {
            throw ServerError(.configuration, "the online key is not a base64 Ed25519 private key")
        }
        privateKey.withLock { $0 = privateKeyBase64 }
    }

    /// The `Slot-Freshness` value to send now, if one was signed.
    var header: String? { current.withLock { $0?.header } }

    /// Grows whenever ``header`` changes: a copy of the header is current while this stays the same.
    var renewals: UInt64 { signed.load(ordering: .acquiring) }

    /// Signs again when `version` is new or the statement is a fifth of its life old.
    func refresh(version: UInt64, now: Int64 = Int64(Date().timeIntervalSince1970)) {
        let due = current.withLock { current in
            guard let current else { return true }
            return current.version != version || now - current.signedAt >= lifetime / 5
        }
        guard due, let key = privateKey.withLock({ $0 }) else { return }
        let statement = FreshnessStatement(catalogVersion: version, expiresAt: now + lifetime)
        guard let header = try? statement.signedHeader(privateKeyBase64: key) else { return }
        current.withLock { current in
            // A slower refresh never replaces a newer version.
            if let existing = current, existing.version > version { return }
            current = Current(version: version, signedAt: now, header: header)
            signed.add(1, ordering: .releasing)
        }
    }
}

/// Where `serve` takes the online key from: `--online-key`, else
/// `DATA/online.key`, generated (mode 0600, with `online.pub` beside it) on
/// first start; with PostgreSQL and neither of those, the database (see
/// ``fromStore(_:publicKeyFile:)``), so that replicas share one key.
public enum OnlineKey {
    /// The key kept in the store as a shared secret (32 random bytes: an
    /// Ed25519 seed), made by the first replica to start; every replica
    /// writes its public half to `publicKeyFile` for the operator to give
    /// devices. Whoever can read the database can then sign freshness
    /// statements, which hold devices back at most (never introduce a
    /// release); a key file per replica (`--online-key`) avoids that.
    static func fromStore(_ store: any MetadataStore, publicKeyFile: String) async throws(ServerError) -> (privateKey: String, publicKey: String) {
        let hex = try await store.sharedSecret(named: "online-key")
        guard let seed = Hex.bytes(hex), seed.count == 32,
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed)
        else { throw ServerError.storage("the stored online key is not 32 bytes of hex") }
        let publicKey = key.publicKey.rawRepresentation.base64EncodedString()
        // The database is what signs: a file left from another database gives way.
        if (try? KeyFiles.read(publicKeyFile, what: "online public key")) != publicKey {
            try? FileManager.default.removeItem(atPath: publicKeyFile)
            try KeyFiles.write(publicKey + "\n", to: publicKeyFile, mode: 0o644)
        }
        return (key.rawRepresentation.base64EncodedString(), publicKey)
    }

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
