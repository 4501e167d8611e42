import FoundationEssentials
import SlotCodec
import SlotCore
import SlotWire

/// Turns what the boot hook and `mark-good` wrote into the state's event
/// ring (boots, confirmations, fallbacks) into device events, once each: a
/// cursor (`state/events.cursor`) remembers the last state event reported.
public struct BootEventReporter: Sendable {
    public let config: SystemConfig
    public let clientId: String

    public init(config: SystemConfig, clientId: String) {
        self.config = config
        self.clientId = clientId
    }

    var cursorPath: String { config.stateDirectory + "/events.cursor" }

    /// Queues the events the server has not heard of yet.
    public func collect(from state: SystemState, into queue: EventQueue) throws(SlotError) {
        let cursor = (try? FileSystem.readFile(cursorPath, limit: 64)).flatMap { UInt64(String(decoding: $0, as: UTF8.self).trimmingWhitespace()) }
        var events: [DeviceEvent] = []
        var last = cursor ?? 0
        // Events written together share a seq and are always collected together.
        for event in state.events {
            guard cursor == nil || event.seq > cursor! else { continue }
            last = max(last, event.seq)
            let type: DeviceEventType
            switch event.type {
            case .boot: type = .booted
            case .markedGood: type = .markedGood
            case .fellBack: type = .fellBack
            default: continue
            }
            // The release in the slot now: an event is reported before the
            // next install can replace what it happened to.
            let releaseId = event.slot.flatMap { state[$0].release }
            events.append(DeviceEvent(
                clientId: clientId, releaseId: releaseId, type: type,
                detail: "\(event.slot?.rawValue ?? "-"): \(event.detail)", at: Timestamp.iso8601(seconds: event.at)))
        }
        // The first run only sets the cursor: history from before the client existed is not news.
        if cursor != nil { try queue.append(events) }
        try FileSystem.writeFileAtomically(cursorPath, Array("\(max(last, state.seq))\n".utf8))
    }
}
