import CBlkid
import Glibc

/// What libblkid's low-level probe reads from one device: filesystem and
/// partition-entry tags. The probe API reads the device itself and never
/// trusts the `/run/blkid` cache, which can be stale or point at files.
public struct BlockProbe: Sendable {
    public var tags: [String: String]

    public var filesystemType: String? { tags["TYPE"] }

    /// Only the filesystem type: superblocks alone, no partition table walk.
    public static func filesystemType(_ path: String) -> String? {
        guard let probe = blkid_new_probe_from_filename(path) else { return nil }
        defer { blkid_free_probe(probe) }
        blkid_probe_enable_superblocks(probe, 1)
        blkid_probe_set_superblocks_flags(probe, BLKID_SUBLKS_TYPE)
        blkid_probe_enable_partitions(probe, 0)
        guard blkid_do_safeprobe(probe) == 0 else { return nil }
        var data: UnsafePointer<CChar>?
        var length = 0
        guard blkid_probe_lookup_value(probe, "TYPE", &data, &length) == 0, let data else { return nil }
        return String(cString: data)
    }

    /// Probes `path` (a device or an image file); nil when nothing is recognised
    /// or the device cannot be opened.
    public static func probe(_ path: String) -> BlockProbe? {
        guard let probe = blkid_new_probe_from_filename(path) else { return nil }
        defer { blkid_free_probe(probe) }
        blkid_probe_enable_superblocks(probe, 1)
        blkid_probe_set_superblocks_flags(probe, BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID | BLKID_SUBLKS_TYPE)
        blkid_probe_enable_partitions(probe, 1)
        blkid_probe_set_partitions_flags(probe, BLKID_PARTS_ENTRY_DETAILS)
        // 0: found something, 1: nothing, -1/-2: error or ambiguous.
        let rc = blkid_do_safeprobe(probe)
        guard rc == 0 else { return rc == 1 ? BlockProbe(tags: [:]) : nil }
        var tags: [String: String] = [:]
        let count = blkid_probe_numof_values(probe)
        for index in 0..<max(count, 0) {
            var name: UnsafePointer<CChar>?
            var data: UnsafePointer<CChar>?
            var length = 0
            if blkid_probe_get_value(probe, index, &name, &data, &length) == 0, let name, let data {
                tags[String(cString: name)] = String(cString: data)
            }
        }
        return BlockProbe(tags: tags)
    }
}
