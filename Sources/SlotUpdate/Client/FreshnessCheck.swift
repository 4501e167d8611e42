import Crypto
import FoundationEssentials
import SlotCore
import SlotWire

/// What a device checks of every answer to `/v1/check` when it pins the
/// server's online key (`[update] server-key`): a statement signed by that
/// key, not expired by the device's clock, and not older than the newest
/// catalog version the device has accepted, which is kept in the state
/// directory (`catalog-version`: outside A and B, it survives their updates).
///
/// What it buys: a frozen or replaying server (or mirror) can hold the
/// device on what it has for at most the statement's lifetime. What it
/// does not: the device's clock is trusted; without an RTC it may be far off.
public struct FreshnessCheck: Sendable {
    public let publicKey: Curve25519.Signing.PublicKey
    public let statePath: String
    private let store: StateStore

    public init(config: SystemConfig) throws(SlotError) {
        guard let path = config.update.serverKeyPath else {
            throw SlotError(.invalidConfig, "[update] server-key is not set")
        }
        let text: String
        do {
            text = String(decoding: try FileSystem.readFile(path, limit: 4096), as: UTF8.self).trimmingWhitespace()
        } catch {
            throw SlotError(.invalidConfig, "[update] server-key: cannot read '\(path)'", cause: error.cause)
        }
        do {
            publicKey = try ReleaseSignature.publicKey(fromBase64: text)
        } catch {
            throw SlotError(.invalidConfig, "[update] server-key '\(path)': \(error.message)")
        }
        statePath = config.stateDirectory + "/catalog-version"
        store = StateStore(directory: config.stateDirectory)
    }

    /// The newest catalog version accepted so far (0 before the first).
    public func newestSeen() -> UInt64 {
        (try? FileSystem.readFile(statePath, limit: 64)).flatMap { UInt64(String(decoding: $0, as: UTF8.self).trimmingWhitespace()) } ?? 0
    }

    /// Accepts the statement in `header`, or says why not; remembers its version.
    @discardableResult
    public func accept(_ header: String?, now: Int64 = Int64(Date().timeIntervalSince1970)) throws(SlotError) -> FreshnessStatement {
        guard let header else {
            throw SlotError(.staleAnswer, "the update server's answer carries no freshness statement ([update] server-key is set); refused")
        }
        let statement: FreshnessStatement
        do {
            statement = try FreshnessStatement.verified(header: header, publicKey: publicKey)
        } catch {
            throw SlotError(.badSignature, "the update server's answer: \(error.message); refused")
        }
        guard statement.expiresAt > now else {
            throw SlotError(.staleAnswer, "the update server's answer expired \(now - statement.expiresAt) s ago (catalog version \(statement.catalogVersion); a frozen or replaying server, or this device's clock is wrong); refused")
        }
        // Compare and remember under the state lock: a daemon and a manual
        // check at once must not write an older version over a newer one.
        try store.withLock { () throws(SlotError) in
            let seen = newestSeen()
            guard statement.catalogVersion >= seen else {
                throw SlotError(.staleAnswer, "the update server's answer speaks for catalog version \(statement.catalogVersion), older than version \(seen) this device already accepted (a replayed or rolled-back server); refused")
            }
            if statement.catalogVersion > seen {
                try FileSystem.writeFileAtomically(statePath, Array("\(statement.catalogVersion)\n".utf8))
            }
        }
        return statement
    }
}
