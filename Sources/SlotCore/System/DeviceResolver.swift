import Glibc

/// Turns a ``DeviceSpec`` into a device path. Tags are matched by probing
/// every block device the kernel lists in `/sys/class/block` with libblkid's
/// probe API (no cache), so the answer reflects what is on the devices now.
public enum DeviceResolver {
    /// The libblkid tag that holds each kind of spec.
    static func probeKey(_ tag: DeviceSpec.Tag) -> String {
        switch tag {
        case .label: "LABEL"
        case .uuid: "UUID"
        case .partLabel: "PART_ENTRY_NAME"
        case .partUUID: "PART_ENTRY_UUID"
        }
    }

    public static func resolve(_ spec: DeviceSpec, sysBlock: String = "/sys/class/block", devDirectory: String = "/dev") throws(SlotError) -> String {
        switch spec {
        case .path(let path):
            return path
        case .tag(let tag, let value):
            let key = probeKey(tag)
            var matches: [String] = []
            for device in blockDevices(sysBlock: sysBlock, devDirectory: devDirectory) {
                guard let probe = BlockProbe.probe(device), let found = probe.tags[key] else { continue }
                let equal = (tag == .uuid || tag == .partUUID) ? found.lowercased() == value.lowercased() : found == value
                if equal { matches.append(device) }
            }
            if matches.count > 1 {
                throw SlotError(.invalidConfig, "\(spec) is ambiguous: it matches \(matches.joined(separator: ", "))")
            }
            guard let device = matches.first else {
                throw SlotError(.notFound, "no block device has \(spec)")
            }
            return device
        }
    }

    /// `/dev/<name>` for every entry of /sys/class/block with a non-zero size.
    static func blockDevices(sysBlock: String, devDirectory: String) -> [String] {
        guard let names = try? FileSystem.contentsOfDirectory(sysBlock) else { return [] }
        return names.compactMap { name in
            if let sizeBytes = try? FileSystem.readFile("\(sysBlock)/\(name)/size", limit: 64),
                let text = String(validating: sizeBytes, as: UTF8.self),
                Int(text.trimmingWhitespace()) == 0
            {
                return nil
            }
            let path = "\(devDirectory)/\(name.replacing(character: "!", with: "/"))"
            return FileSystem.exists(path) ? path : nil
        }
    }
}
