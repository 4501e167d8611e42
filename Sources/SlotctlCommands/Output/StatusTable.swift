import SlotCodec
import SlotCore

/// The human form of `slotctl status`: a summary, a slot table, recent events.
enum StatusTable {
    static func render(_ report: StatusReport, events eventCount: Int = 8) -> String {
        var out = ""
        let config = report.config
        out += "compatible \(config.compatible)   state \(config.stateDirectory)"
        if let state = report.state { out += " (seq \(state.seq))" }
        out += "\n"
        if report.state == nil {
            if report.stateMissing {
                out += Terminal.paint("state: not provisioned (run 'slotctl init')", .yellow) + "\n"
            } else {
                out += Terminal.paint("state: CORRUPT: \(report.stateProblems.joined(separator: "; "))", .red) + "\n"
                out += "the next boot will choose R\n"
            }
        } else if !report.stateProblems.isEmpty {
            out += Terminal.paint("warning: \(report.stateProblems.joined(separator: "; ")) (the other copy is in use)", .yellow) + "\n"
        }
        out += "booted: \(report.booted?.rawValue ?? "unknown")   next boot: \(report.next?.rawValue ?? "R")"
        if let state = report.state {
            out += "   security version: \(state.securityVersion)"
            if state.recoveryOnce { out += Terminal.paint("   recovery requested for the next boot", .yellow) }
        }
        out += "\n"
        if let bootloader = report.bootloader {
            out += "bootloader: \(bootloader.kind.rawValue) (\(bootloader.path))"
            if let view = bootloader.view {
                let tries = SlotName.counted.map { "\($0) \(view[$0].eligible ? view[$0].triesLeft.map(String.init) ?? "rauc" : "off")" }
                out += "   next boot: \(view.nextBoot.rawValue)   order: \(view.order.map(\.rawValue).joined(separator: " "))   tries: \(tries.joined(separator: ", "))"
                if !view.provisioned { out += Terminal.paint("   not provisioned (boots A uncounted)", .yellow) }
            }
            out += "\n"
            if let error = bootloader.error { out += Terminal.paint("bootloader environment unreadable: \(error)", .red) + "\n" }
            for disagreement in bootloader.disagreements {
                out += Terminal.paint("disagreement: \(disagreement)", .yellow) + "\n"
            }
            if report.state?.projectionPending == true {
                out += Terminal.paint("the last write of the bootloader environment was interrupted: the next slotctl operation writes it again", .yellow) + "\n"
            }
        }
        out += "\n"

        let header = ["SLOT", "KIND", "LOCATION", "STATUS", "PRIO", "TRIES", "BOOTS", "VERSION", "SIZE", "CRC32"]
        var rows: [[String]] = []
        var statuses: [SlotStatus] = []
        for name in SlotName.allCases {
            let definition = config.slot(name)
            let record = report.state?[name] ?? SlotRecord()
            var slotLabel = name.rawValue
            if name == report.booted { slotLabel += "*" }
            rows.append([
                slotLabel, definition.kind + (definition.readonly ? ",ro" : ""), report.location(name),
                record.status.rawValue, name == .R ? "-" : String(record.priority), name == .R ? "-" : String(record.tries),
                String(record.boots), record.version ?? "-", record.size.map(ByteFormat.format) ?? "-",
                record.crc32.map(CRC32.hex) ?? "-",
            ])
            statuses.append(record.status)
        }
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String], status: SlotStatus? = nil) -> String {
            cells.enumerated().map { index, cell in
                let padded = cell + String(repeating: " ", count: widths[index] - cell.count)
                if index == 3, let status { return Terminal.paint(padded, color(status)) }
                return padded
            }.joined(separator: "  ").trimmingTrailingSpaces() + "\n"
        }
        out += Terminal.paint(line(header), .bold)
        for (row, status) in zip(rows, statuses) { out += line(row, status: status) }
        for name in SlotName.allCases {
            if let reason = report.state?[name].badReason {
                out += "  \(name): \(reason)\n"
            }
        }

        if let events = report.state?.events, !events.isEmpty {
            out += "\nrecent events:\n"
            for event in events.suffix(eventCount) {
                out += "  #\(event.seq) \(Timestamp.iso8601(seconds: event.at)) \(event.type.rawValue)"
                if let slot = event.slot { out += " \(slot)" }
                out += ": \(event.detail)\n"
            }
        }
        return out
    }

    static func color(_ status: SlotStatus) -> Terminal.Color {
        switch status {
        case .good: .green
        case .ready: .blue
        case .installing: .yellow
        case .bad: .red
        case .empty: .dim
        }
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var text = Substring(self)
        while text.last == " " { text = text.dropLast() }
        return String(text)
    }
}
