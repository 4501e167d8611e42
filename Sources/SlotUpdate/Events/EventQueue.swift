import FoundationEssentials
import SlotCore
import SlotWire

/// Events waiting for the server, one JSON object per line in
/// `state/events.queue`. They survive reboots and unreachable servers and
/// are flushed before every check, so a fallback that happened offline is
/// still reported. Bounded: the oldest are dropped beyond ``capacity``.
public struct EventQueue: Sendable {
    public static let capacity = 512
    public let path: String

    public init(config: SystemConfig) {
        path = config.stateDirectory + "/events.queue"
    }

    public func pending() -> [DeviceEvent] {
        guard let bytes = try? FileSystem.readFile(path, limit: 4 << 20) else { return [] }
        let decoder = WireJSON.decoder()
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            try? decoder.decode(DeviceEvent.self, from: Data(line.utf8))
        }
    }

    public func append(_ events: [DeviceEvent]) throws(SlotError) {
        guard !events.isEmpty else { return }
        try save(Array((pending() + events).suffix(Self.capacity)))
    }

    /// Removes the first `count` events (the ones just delivered).
    public func drop(_ count: Int) throws(SlotError) {
        try save(Array(pending().dropFirst(count)))
    }

    private func save(_ events: [DeviceEvent]) throws(SlotError) {
        let encoder = WireJSON.encoder()
        var text = ""
        for event in events {
            if let data = try? encoder.encode(event) { text += String(decoding: data, as: UTF8.self) + "\n" }
        }
        try FileSystem.writeFileAtomically(path, Array(text.utf8))
    }
}
