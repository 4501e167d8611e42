import Foundation

/// The human-readable output of `releases`, `stats` and `devices`.
public enum AdminFormatting {
    public static func releases(_ releases: [ReleaseInfo]) -> String {
        var rows = [["ID", "CHANNEL", "COMPATIBLE", "VERSION", "ORDER", "STATE", "ROLLOUT", "PAUSED"]]
        for release in releases {
            let rollout =
                release.experiment.map { "\($0.name) [\(number($0.start)), \(number($0.end)))%" } ?? "\(number(release.rolloutPercent))%"
            rows.append([
                release.id, release.channel, release.compatible, release.version,
                release.deployOrder.map(String.init) ?? "-", release.state.rawValue, rollout,
                release.paused ? (release.pauseReason ?? "yes") : "no",
            ])
        }
        return table(rows)
    }

    public static func stats(_ stats: ReleaseStats) -> String {
        let r = stats.release
        var lines = [
            "release      \(r.id) (\(r.version), channel \(r.channel), \(r.compatible))",
            "state        \(r.state.rawValue), rollout \(r.experiment.map { "arm \($0.name) [\(number($0.start)), \(number($0.end)))%" } ?? "\(number(r.rolloutPercent))%")",
            "paused       \(r.paused ? "yes: \(r.pauseReason ?? "")" : "no")\(r.autoPause ? "" : " (auto-pause off)")",
            "offered      \(stats.devicesOffered) devices (last check answered with it)",
            "running      \(stats.devicesRunning) devices report version \(r.version)",
            "reporting    \(stats.reportingDevices) devices, \(stats.failedDevices) fell back or failed (\(number(stats.failureShare * 100)) %; auto-pause over \(number(stats.autoPauseThreshold * 100)) % after \(stats.autoPauseMinReports))",
        ]
        if let trial = stats.trial, let max = r.maxInTrial {
            let gate = max > 0 ? "at most \(max) + confirmed at once, \(r.trialTimeoutSeconds ?? 0) s each" : "no gate"
            lines.append(
                "trial        \(trial.inTrial) in trial (\(gate)), \(trial.confirmed) confirmed, \(trial.failed) failed, \(trial.timedOut) timed out")
        }
        for (type, count) in stats.devicesByEvent.sorted(by: { $0.key < $1.key }) {
            lines.append("  \(type.padding(toLength: 12, withPad: " ", startingAt: 0)) \(count)")
        }
        return lines.joined(separator: "\n")
    }

    public static func devices(_ devices: [DeviceInfo]) -> String {
        var rows = [["CLIENT", "IDENTITY", "COMPATIBLE", "CHANNEL", "VERSION", "SLOT", "LAST CHECK", "OFFERED", "CHECKS"]]
        for d in devices {
            let identity = d.product.map { d.revoked == nil ? "enrolled (\($0))" : "REVOKED" } ?? "anonymous"
            rows.append([d.clientId, identity, d.compatible, d.channel, d.version, d.slot, d.lastCheck, d.offeredRelease ?? "-", String(d.checks)])
        }
        return table(rows)
    }

    public static func enrolled(_ devices: [EnrolledDevice]) -> String {
        var rows = [["CLIENT", "PRODUCT", "ENROLLED", "REVOKED"]]
        for d in devices { rows.append([d.clientId, d.product, d.enrolled, d.revoked ?? "-"]) }
        return table(rows)
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.2f", value)
    }

    static func table(_ rows: [[String]]) -> String {
        guard let header = rows.first else { return "" }
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.map { row in
            row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
