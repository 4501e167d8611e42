/// How a config names a block device: a path (a device node, a loop device or
/// a regular file standing in for one), or a tag resolved with libblkid.
public enum DeviceSpec: Sendable, Equatable, CustomStringConvertible {
    case path(String)
    case tag(Tag, String)

    public enum Tag: String, Sendable, CaseIterable {
        case label = "LABEL"
        case partLabel = "PARTLABEL"
        case uuid = "UUID"
        case partUUID = "PARTUUID"
    }

    /// Parses `PARTLABEL=rootfs_a`, `UUID=...` or a path; nil for anything else.
    public init?(_ text: String, relativeTo base: String) {
        if let equals = text.firstIndex(of: "=") {
            guard let tag = Tag(rawValue: String(text[..<equals])) else { return nil }
            let value = String(text[text.index(after: equals)...])
            guard !value.isEmpty else { return nil }
            self = .tag(tag, value)
        } else {
            guard !text.isEmpty else { return nil }
            self = .path(SystemConfig.resolve(text, relativeTo: base))
        }
    }

    public var description: String {
        switch self {
        case .path(let path): path
        case .tag(let tag, let value): "\(tag.rawValue)=\(value)"
        }
    }
}
