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
    /// With a bootloader backend: what its environment says (or why it
    /// cannot be read), and where that disagrees with the state.
    public var bootloader: BootloaderStatus?

    public struct BootloaderStatus: Sendable {
        public var kind: BootloaderKind
        public var path: String
        public var view: BootloaderView?
        public var error: String?
        public var disagreements: [BootloaderDisagreement]
    }

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
        var bootloader: StatusReport.BootloaderStatus?
        if let sync = store.sync {
            var status = StatusReport.BootloaderStatus(kind: sync.kind, path: sync.path, view: nil, error: nil, disagreements: [])
            do throws(SlotError) {
                let view = try sync.view()
                status.view = view
                if let state { status.disagreements = try view.disagreements(with: state, maxTries: config.maxTries) }
            } catch {
                status.error = error.description
            }
            bootloader = status
        }
        return StatusReport(
            config: config, state: state, stateProblems: snapshot.problems.filter { !$0.hasSuffix(": missing") || state == nil },
            stateMissing: snapshot.isMissing, booted: bootedSlot(state: state),
            next: state.map(BootSelector.preview), locations: locations, bootloader: bootloader)
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
                ("release", .optional(record.release)),
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
        if let bootloader {
            var object: [(String, JSONValue)] = [("kind", .string(bootloader.kind.rawValue)), ("environment", .string(bootloader.path))]
            if let view = bootloader.view {
                object += [
                    ("provisioned", .bool(view.provisioned)),
                    ("next", .string(view.nextBoot.rawValue)),
                    ("order", .array(view.order.map { .string($0.rawValue) })),
                    ("recoveryOnce", .bool(view.recoveryOnce)),
                    ("slots", .object(SlotName.counted.map { slot in
                        (slot.rawValue, .object([
                            ("eligible", .bool(view[slot].eligible)),
                            ("tries", view[slot].triesLeft.map { .int(Int64($0)) } ?? .null),
                        ]))
                    })),
                    ("problems", .array(view.problems.map(JSONValue.string))),
                ]
            }
            object.append(("error", .optional(bootloader.error)))
            object.append(("disagreements", .array(bootloader.disagreements.map { .string($0.description) })))
            object.append(("projectionPending", .bool(state?.projectionPending ?? false)))
            members.append(("bootloader", .object(object)))
        }
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
