/// The boot hook's output: `SLOT=B`, `ROOT=/dev/vda3`, `FSTYPE=ext4`,
/// `SEQ=42`, `REASON=...`, one shell assignment per line. The same lines are
/// stored in `run-dir/booted`, where every later command learns the booted slot.
public struct BootAssignments: Sendable, Equatable {
    public var slot: SlotName
    public var root: String
    public var fstype: String?
    public var seq: UInt64?
    public var reason: String

    public init(slot: SlotName, root: String, fstype: String?, seq: UInt64?, reason: String) {
        self.slot = slot
        self.root = root
        self.fstype = fstype
        self.seq = seq
        self.reason = reason
    }

    public var shellText: String {
        var lines = ["SLOT=\(slot.rawValue)", "ROOT=\(ShellQuote.quote(root))"]
        if let fstype { lines.append("FSTYPE=\(ShellQuote.quote(fstype))") }
        lines.append("SEQ=\(seq.map(String.init) ?? "")")
        lines.append("REASON=\(ShellQuote.quote(reason))")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Reads the `SLOT=` line of a booted file; the rest is informational.
    public static func bootedSlot(fromShellText text: String) -> SlotName? {
        for line in text.split(separator: "\n") where line.hasPrefix("SLOT=") {
            return SlotName(rawValue: String(line.dropFirst(5)).trimmingWhitespace())
        }
        return nil
    }

    public static func seq(fromShellText text: String) -> UInt64? {
        for line in text.split(separator: "\n") where line.hasPrefix("SEQ=") {
            return UInt64(line.dropFirst(4))
        }
        return nil
    }
}

/// POSIX shell single-quoting, only when a value needs it.
public enum ShellQuote {
    public static func quote(_ value: String) -> String {
        let safe = value.unicodeScalars.allSatisfy { scalar in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "/", ".", "_", "-", "=", ":", ",", "+", "@": true
            default: false
            }
        }
        if safe && !value.isEmpty { return value }
        return "'" + value.replacing(character: "'", with: "'\\''") + "'"
    }
}
