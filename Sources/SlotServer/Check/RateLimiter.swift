import SlotCodec
import Synchronization

/// Token buckets by key (a client id, a peer address): `burst` requests at
/// once, then `perSecond`. Refused requests are answered `429` with
/// `Retry-After` and never reach the store, the statistics or auto-pause.
///
/// Sharded, so the event loops rarely wait for each other. Memory is
/// bounded: a shard that grows past its capacity forgets the buckets that
/// have refilled (idle keys); if that is not enough (a flood of distinct
/// keys), it forgets them all, letting those keys start afresh.
final class RateLimiter: Sendable {
    struct Rule: Sendable, Equatable {
        var perSecond: Double
        var burst: Double
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    /// Mutex is not copyable: each shard lives in an object of its own.
    private final class Shard: Sendable {
        let buckets = Mutex<[String: Bucket]>([:])
    }

    let rule: Rule
    private let shards: [Shard]
    private let capacityPerShard: Int

    init(_ rule: Rule, shards: Int = 16, capacity: Int = 1_000_000) {
        self.rule = rule
        self.shards = (0..<shards).map { _ in Shard() }
        self.capacityPerShard = max(1, capacity / shards)
    }

    /// How many keys have a bucket now: what the capacity bounds.
    var trackedKeys: Int {
        shards.reduce(0) { total, shard in total + shard.buckets.withLock { $0.count } }
    }

    /// nil when `key` may go on (a token is taken); otherwise the whole
    /// seconds until it may try again.
    func admit(_ key: String, now: ContinuousClock.Instant = .now) -> Int? {
        // The shard from the key's last byte (client ids end in random hex,
        // addresses in a digit): no second hash of the key on the check path.
        let shard = shards[Int(key.utf8.last ?? 0) % shards.count]
        return shard.buckets.withLock { buckets in
            // One lookup: the bucket is taken from in place.
            let retry = Self.take(from: &buckets[key, default: Bucket(tokens: rule.burst, updated: now)], now: now, rule: rule)
            if buckets.count > capacityPerShard { prune(&buckets, now: now) }
            return retry
        }
    }

    /// Refills `bucket` for the time since it was last used, then takes a
    /// token; nil when there was one, else the seconds until there is.
    private static func take(from bucket: inout Bucket, now: ContinuousClock.Instant, rule: Rule) -> Int? {
        bucket.tokens = min(rule.burst, bucket.tokens + (now - bucket.updated).inSeconds * rule.perSecond)
        bucket.updated = now
        guard bucket.tokens >= 1 else { return max(1, Int(((1 - bucket.tokens) / rule.perSecond).rounded(.up))) }
        bucket.tokens -= 1
        return nil
    }

    private func prune(_ buckets: inout [String: Bucket], now: ContinuousClock.Instant) {
        buckets = buckets.filter { _, bucket in
            bucket.tokens + (now - bucket.updated).inSeconds * rule.perSecond < rule.burst
        }
        if buckets.count > capacityPerShard { buckets.removeAll(keepingCapacity: true) }
    }
}

/// The limits of the two device-facing endpoints, per device and per peer address.
struct RequestLimits: Sendable {
    let checkPerDevice: RateLimiter?
    let checkPerAddress: RateLimiter?
    let eventsPerDevice: RateLimiter?
    let eventsPerAddress: RateLimiter?
    /// `/v1/enroll` and `/v1/session` together: each costs an Ed25519 verification.
    let identityPerAddress: RateLimiter?

    init(_ configuration: ServerConfiguration.RateLimits) {
        let perDevice = configuration.devicePerMinute > 0
            ? RateLimiter.Rule(perSecond: configuration.devicePerMinute / 60, burst: configuration.devicePerMinute) : nil
        let perAddress = configuration.addressPerSecond > 0
            ? RateLimiter.Rule(perSecond: configuration.addressPerSecond, burst: configuration.addressPerSecond * 2) : nil
        checkPerDevice = perDevice.map { RateLimiter($0) }
        eventsPerDevice = perDevice.map { RateLimiter($0) }
        checkPerAddress = perAddress.map { RateLimiter($0) }
        eventsPerAddress = perAddress.map { RateLimiter($0) }
        identityPerAddress = perAddress.map { RateLimiter($0) }
    }

    /// Throws `429` with `Retry-After` when either limit refuses.
    /// `what` is made only for a refusal: not on every request.
    static func enforce(_ limiter: RateLimiter?, _ key: String?, _ what: @autoclosure () -> String) throws(ServerError) {
        guard let limiter, let key, let retry = limiter.admit(key) else { return }
        throw ServerError.rateLimited("too many requests from \(what()); retry after \(retry) s", retryAfter: retry)
    }
}
