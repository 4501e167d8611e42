@testable import SlotServer
import Testing

/// The token buckets themselves, on a clock the test moves.
@Suite("Rate limiter buckets")
struct RateLimiterTests {
    let start = ContinuousClock.now

    @Test("a burst, then Retry-After until the bucket refills")
    func burstThenRefill() {
        let limiter = RateLimiter(.init(perSecond: 0.5, burst: 2))
        #expect(limiter.admit("d1", now: start) == nil)
        #expect(limiter.admit("d1", now: start) == nil)
        #expect(limiter.admit("d1", now: start) == 2, "one token takes 2 s at 0.5/s")
        #expect(limiter.admit("d2", now: start) == nil, "another key has its own bucket")
        #expect(limiter.admit("d1", now: start + .seconds(1)) == 1)
        #expect(limiter.admit("d1", now: start + .seconds(2.1)) == nil)
    }

    @Test("past its capacity a shard forgets the keys that have refilled, and keeps those that have not")
    func idleKeysArePruned() {
        let limiter = RateLimiter(.init(perSecond: 1, burst: 2), shards: 1, capacity: 4)
        for key in ["a", "b", "c"] { #expect(limiter.admit(key, now: start) == nil) }
        #expect(limiter.admit("d", now: start + .seconds(10)) == nil)
        #expect(limiter.trackedKeys == 4)
        // a, b and c have refilled by now: forgetting them changes nothing they could notice.
        #expect(limiter.admit("e", now: start + .seconds(10)) == nil)
        #expect(limiter.trackedKeys == 2, "d and e are still drawn down; a, b and c are forgotten")
        #expect(limiter.admit("d", now: start + .seconds(10)) == nil)
        #expect(limiter.admit("d", now: start + .seconds(10)) != nil, "d kept its bucket: its second token is gone")
    }

    @Test("a flood of distinct keys is bounded: the shard starts afresh")
    func floodIsBounded() {
        let limiter = RateLimiter(.init(perSecond: 1.0 / 3600, burst: 1), shards: 1, capacity: 4)
        #expect(limiter.admit("a", now: start) == nil)
        #expect(limiter.admit("a", now: start) != nil)
        for index in 0..<100 { _ = limiter.admit("flood-\(index)", now: start) }
        #expect(limiter.trackedKeys <= 4)
        #expect(limiter.admit("a", now: start) == nil, "forgotten in the flood, a starts with a full bucket")
    }
}
