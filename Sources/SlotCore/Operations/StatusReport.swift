import SlotCodec
/// Everything `slotctl status` shows, gathered once; rendered as a table by
/// the CLI and as JSON (whose keys are a contract) here.
public struct StatusReport: Sendable {
    public var config: SystemConfig
    /// Nil when the state is missing or both copies are unusable.
    public var state: SystemState?
    public var stateProblems: [String]
    public var stateMissing: Bool
    public var booted: SlotName?
    /// What the next boot would choose if nothing changes.
    public var next: SlotName?
    /// Per slot: the resolved device path or payload path (or why not).
    public var locations: [SlotName: String]

    public func location(_ slot: SlotName) -> String { locations[slot] ?? "?" }
}

extension SlotManager {
    public func status() -> StatusReport {
        let snapshot = store.snapshot()
        let state = snapshot.current
        var locations: [SlotName: String] = [:]
        for name in SlotName.allCases {
            let definition = config.slot(name)
            switch definition.storage {
            case .block(let spec):
                locations[name] = (try? DeviceResolver.resolve(spec)) ?? "\(spec) (not found)"
            case .directory:
                locations[name] = definition.payloadPath!
            }
        }
        return StatusReport(
            config: config, state: state, stateProblems: snapshot.problems.filter { !$0.hasSuffix(": missing") || state == nil },
            stateMissing: snapshot.isMissing, booted: bootedSlot(state: state),
            next: state.map(BootSelector.preview), locations: locations)
    }
}

extension StatusReport {
    public var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("booted", .optional(booted?.rawValue)),
            ("next", .optional(next?.rawValue)),
            ("compatible", .string(config.compatible)),
            ("securityVersion", .uint(state?.securityVersion ?? 0)),
            ("recoveryOnce", .bool(state?.recoveryOnce ?? false)),
            ("seq", state.map { .uint($0.seq) } ?? .null),
            ("maxTries", .int(Int64(config.maxTries))),
            ("state", .string(state != nil ? "ok" : stateMissing ? "missing" : "corrupt")),
            ("stateProblems", .array(stateProblems.map(JSONValue.string))),
        ]
        var slots: [(String, JSONValue)] = []
        for name in SlotName.allCases {
            let definition = config.slot(name)
            let record = state?[name] ?? SlotRecord()
            var slot: [(String, JSONValue)] = [("kind", .string(definition.kind))]
            if definition.payloadPath != nil {
                slot.append(("path", .string(location(name))))
            } else {
                slot.append(("device", .string(location(name))))
            }
            slot += [
                ("readonly", .bool(definition.readonly)),
                ("status", .string(record.status.rawValue)),
                ("priority", .int(Int64(record.priority))),
                ("tries", .int(Int64(record.tries))),
                ("version", .optional(record.version)),
                ("size", record.size.map { .uint($0) } ?? .null),
                ("crc32", .optional(record.crc32.map(CRC32.hex))),
                ("sha256", .optional(record.sha256)),
                ("fstype", .optional(record.fstype)),
                ("installed", .optional(record.installed.map { Timestamp.iso8601(seconds: $0) })),
                ("boots", .uint(record.boots)),
                ("badReason", .optional(record.badReason)),
            ]
            slots.append((name.rawValue, .object(slot)))
        }
        members.append(("slots", .object(slots)))
        let events = (state?.events ?? []).map { event -> JSONValue in
            .object([
                ("seq", .uint(event.seq)),
                ("type", .string(event.type.rawValue)),
                ("slot", .optional(event.slot?.rawValue)),
                ("detail", .string(event.detail)),
                ("at", .string(Timestamp.iso8601(seconds: event.at))),
            ])
        }
        members.append(("events", .array(events)))
        return .object(members)
    }
}
