import Foundation
import SlotServer
import SlotWire
import Testing

/// The rollout rule over many thousands of client ids: shares within a
/// binomial margin, monotonic widening, disjoint experiment arms, and the
/// "never go back" floor.
@Suite("Rollout policy")
struct RolloutPolicyTests {
    static let clients = (0..<20_000).map { "device-\($0)-\(($0 &* 2_654_435_761) % 99_991)" }

    func request(_ client: String, version: String = "0.9", channel: String = "stable") -> CheckRequest {
        CheckRequest(clientId: client, compatible: "acme-gw", channel: channel, version: version, slot: "A")
    }

    func published(_ record: ReleaseRecord, seq: Int64) -> ReleaseRecord {
        var record = record
        record.publishedSeq = seq
        return record
    }

    @Test("bucket values agree with an independent SHA-256 implementation (Python hashlib)")
    func bucketVectors() {
        #expect(RolloutBucket.bucket(key: "1.2.0-3fa9c1d2", clientId: "device-0001") == 7433)
        #expect(RolloutBucket.bucket(key: "exp-a", clientId: "device-42") == 2547)
        #expect(RolloutBucket.bucket(key: "r", clientId: "") == 568)
    }

    @Test("the share of devices in a rollout is within 4 sigma of the percentage", arguments: [0.5, 5.0, 10.0, 33.33, 50.0, 90.0])
    func shareWithinBinomialMargin(percent: Double) {
        let release = published(TestSupport.record(id: "share-\(percent)", version: "1.0", rolloutBasisPoints: RolloutBucket.threshold(percent: percent)), seq: 1)
        let inside = Self.clients.filter { RolloutPolicy.includes(release, clientId: $0) }.count
        #expect(withinBinomialMargin(inside, trials: Self.clients.count, p: percent / 100), "\(inside) of \(Self.clients.count) inside at \(percent) %")
    }

    @Test("0 % offers nothing and 100 % offers everything")
    func extremes() {
        let none = published(TestSupport.record(id: "none", version: "1.0", rolloutBasisPoints: 0), seq: 1)
        let all = published(TestSupport.record(id: "all", version: "1.0", rolloutBasisPoints: 10_000), seq: 1)
        #expect(Self.clients.allSatisfy { !RolloutPolicy.includes(none, clientId: $0) })
        #expect(Self.clients.allSatisfy { RolloutPolicy.includes(all, clientId: $0) })
    }

    @Test("widening 1 → 10 → 50 → 100 % keeps every device already in")
    func wideningIsMonotonic() {
        var previous: Set<String> = []
        for percent in [1.0, 10.0, 50.0, 100.0] {
            let release = published(TestSupport.record(id: "widen", version: "1.0", rolloutBasisPoints: RolloutBucket.threshold(percent: percent)), seq: 1)
            let inside = Set(Self.clients.filter { RolloutPolicy.includes(release, clientId: $0) })
            #expect(previous.isSubset(of: inside))
            #expect(inside.count > previous.count)
            previous = inside
        }
    }

    @Test("two rollouts at the same percentage pick different devices (the release id is the key)")
    func releasesAreIndependent() {
        let a = published(TestSupport.record(id: "rel-a", version: "1.0", rolloutBasisPoints: 5000), seq: 1)
        let b = published(TestSupport.record(id: "rel-b", version: "1.0", rolloutBasisPoints: 5000), seq: 1)
        let both = Self.clients.filter { RolloutPolicy.includes(a, clientId: $0) && RolloutPolicy.includes(b, clientId: $0) }.count
        #expect(withinBinomialMargin(both, trials: Self.clients.count, p: 0.25))
    }

    @Test("experiment arms split one bucket range, never overlap, and each gets its share")
    func experimentArmsAreDisjoint() {
        let armA = published(TestSupport.record(id: "arm-a", version: "2.0-a", experiment: ExperimentSlot(name: "exp", startBucket: 0, endBucket: 1000)), seq: 1)
        let armB = published(TestSupport.record(id: "arm-b", version: "2.0-b", experiment: ExperimentSlot(name: "exp", startBucket: 1000, endBucket: 2000)), seq: 2)
        let inA = Set(Self.clients.filter { RolloutPolicy.includes(armA, clientId: $0) })
        let inB = Set(Self.clients.filter { RolloutPolicy.includes(armB, clientId: $0) })
        #expect(inA.isDisjoint(with: inB))
        for arm in [inA, inB] {
            #expect(withinBinomialMargin(arm.count, trials: Self.clients.count, p: 0.1))
        }
        // Through the policy: each device gets its own arm, outsiders the base release.
        let base = published(TestSupport.record(id: "base", version: "1.0"), seq: 0)
        let track = [armB, armA, base]
        var counts: [String: Int] = [:]
        for client in Self.clients {
            let chosen = RolloutPolicy.choose(among: track, for: request(client))?.id ?? "-"
            counts[chosen, default: 0] += 1
            if inA.contains(client) { #expect(chosen == "arm-a") }
            if inB.contains(client) { #expect(chosen == "arm-b") }
        }
        #expect(counts["base"] == Self.clients.count - inA.count - inB.count)
    }

    @Test("newest included release wins; paused, same-version and older-than-current releases are skipped")
    func choiceRules() {
        let v1 = published(TestSupport.record(id: "v1", version: "1.0"), seq: 1)
        let v2 = published(TestSupport.record(id: "v2", version: "2.0"), seq: 2)
        var v3 = published(TestSupport.record(id: "v3", version: "3.0"), seq: 3)
        let track = [v3, v2, v1]
        #expect(RolloutPolicy.choose(among: track, for: request("x", version: "0.1"))?.id == "v3")
        #expect(RolloutPolicy.choose(among: track, for: request("x", version: "3.0")) == nil)
        v3.paused = true
        #expect(RolloutPolicy.choose(among: [v3, v2, v1], for: request("x", version: "0.1"))?.id == "v2")
        // A device on 2.0 is never sent back to 1.0, even with 3.0 paused.
        #expect(RolloutPolicy.choose(among: [v3, v2, v1], for: request("x", version: "2.0")) == nil)
        // A 1.0 re-deployed after 3.0 (a roll-back) is offered to devices on 3.0.
        let rollback = published(TestSupport.record(id: "v1-again", version: "1.0"), seq: 4)
        #expect(RolloutPolicy.choose(among: [rollback, v3, v2, v1], for: request("x", version: "3.0"))?.id == "v1-again")
        #expect(RolloutPolicy.choose(among: [rollback, v3, v2, v1], for: request("x", version: "1.0")) == nil)
    }

    @Test("a device outside the newest rollout gets the newest release it is inside")
    func fallsBackToOlderIncludedRelease() {
        let stable = published(TestSupport.record(id: "stable-1", version: "1.0"), seq: 1)
        let canary = published(TestSupport.record(id: "canary-2", version: "2.0", rolloutBasisPoints: 2000), seq: 2)
        for client in Self.clients.prefix(2000) {
            let chosen = RolloutPolicy.choose(among: [canary, stable], for: request(client, version: "0.5"))
            #expect(chosen?.id == (RolloutPolicy.includes(canary, clientId: client) ? "canary-2" : "stable-1"))
        }
    }
}
