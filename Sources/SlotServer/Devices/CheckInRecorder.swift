import Synchronization
import SlotWire

/// Remembers each device's last check in memory, coalesced by client id, so a
/// check costs a dictionary update instead of a database write. The
/// ``CheckInFlusher`` writes the batch periodically and at shutdown.
public final class CheckInRecorder: Sendable {
    /// Beyond this many distinct devices waiting (database down for long), new
    /// ones are dropped and counted rather than growing memory without bound.
    let capacity: Int
    /// Sharded by client id so the event loop threads rarely wait on each other.
    private let shards: [Shard]
    private let dropped = Atomic<Int>(0)

    init(capacity: Int = 2_000_000, shardCount: Int = 16) {
        self.capacity = capacity
        self.shards = (0..<shardCount).map { _ in Shard() }
    }

    private final class Shard: Sendable {
        let devices = Mutex<[String: DeviceRecord]>([:])
    }

    private func shard(_ clientId: String) -> Shard {
        // The id's last byte (client ids end in random hex): no second hash of the id per check.
        shards[Int(clientId.utf8.last ?? 0) % shards.count]
    }

    func record(_ request: CheckRequest, offered releaseId: String?, atMillis: Int64) {
        let limit = capacity / shards.count
        let accepted = shard(request.clientId).devices.withLock { devices -> Bool in
            // One lookup, and the record changed where it lies.
            if let index = devices.index(forKey: request.clientId) {
                devices.values[index].checkedIn(request, offered: releaseId, atMillis: atMillis)
                return true
            }
            guard devices.count < limit else { return false }
            devices[request.clientId] = DeviceRecord(
                clientId: request.clientId, compatible: request.compatible, channel: request.channel,
                version: request.version, slot: request.slot, lastCheckMillis: atMillis,
                offeredReleaseId: releaseId, checks: 1)
            return true
        }
        if !accepted { dropped.add(1, ordering: .relaxed) }
    }

    /// Takes everything recorded so far.
    func drain() -> [DeviceRecord] {
        var batch: [DeviceRecord] = []
        for shard in shards {
            shard.devices.withLock { devices in
                batch.append(contentsOf: devices.values)
                devices.removeAll(keepingCapacity: true)
            }
        }
        return batch
    }

    /// Puts back a batch whose write failed, under newer checks recorded meanwhile.
    func restore(_ batch: [DeviceRecord]) {
        let limit = capacity / shards.count
        for old in batch {
            shard(old.clientId).devices.withLock { devices in
                if var newer = devices[old.clientId] {
                    newer.checks += old.checks
                    devices[old.clientId] = newer
                } else if devices.count < limit {
                    devices[old.clientId] = old
                }
            }
        }
    }

    var pendingCount: Int { shards.reduce(0) { sum, shard in sum + shard.devices.withLock { $0.count } } }
    var droppedCount: Int { dropped.load(ordering: .relaxed) }

    /// Writes the pending check-ins; on failure keeps them for the next try.
    func flush(to store: any MetadataStore) async throws(ServerError) {
        let batch = drain()
        guard !batch.isEmpty else { return }
        do {
            try await store.upsertDevices(batch)
        } catch {
            restore(batch)
            throw error
        }
    }
}

extension DeviceRecord {
    /// Another check from the same device since the last flush.
    fileprivate mutating func checkedIn(_ request: CheckRequest, offered releaseId: String?, atMillis: Int64) {
        compatible = request.compatible
        channel = request.channel
        version = request.version
        slot = request.slot
        lastCheckMillis = atMillis
        offeredReleaseId = releaseId
        checks += 1
    }
}
