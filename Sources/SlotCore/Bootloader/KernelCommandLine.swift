/// The kernel command line, split the way the kernel splits it (`next_arg`
/// and `parse_args` in the kernel): words separated by white space, double
/// quotes group (`a="b c"`) and are dropped around a value, and a bare `--`
/// ends the kernel's parameters (what follows is for init).
public enum KernelCommandLine {
    public static let slotParameter = "slotctl.slot"
    public static let defaultPath = "/proc/cmdline"

    /// The command line from `path` (`--cmdline FILE`, else /proc/cmdline);
    /// nil when it cannot be read (the boot then goes by the state).
    public static func read(path: String = defaultPath) -> String? {
        (try? FileSystem.readFile(path, limit: 64 * 1024)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// `name` or `name=value` pairs, in order.
    public static func parameters(_ commandLine: String) -> [(name: String, value: String?)] {
        let bytes = Array(commandLine.utf8)
        let quote = UInt8(ascii: "\"")
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }

        var result: [(name: String, value: String?)] = []
        var index = 0
        while true {
            while index < bytes.count, isSpace(bytes[index]) { index += 1 }
            guard index < bytes.count else { break }
            var start = index
            var inQuote = false, quoted = false
            if bytes[start] == quote {
                start += 1
                inQuote = true
                quoted = true
            }
            var end = start
            var equals: Int?
            while end < bytes.count {
                if isSpace(bytes[end]) && !inQuote { break }
                if equals == nil, bytes[end] == UInt8(ascii: "=") { equals = end }
                if bytes[end] == quote { inQuote.toggle() }
                end += 1
            }
            index = end
            // Quotes around the value, or around the whole word, are dropped:
            // the kernel clears the word's last byte once if it is a quote.
            var wordEnd = end
            var dropped = false
            func dropClosingQuote(after first: Int) {
                if !dropped, wordEnd > first, bytes[wordEnd - 1] == quote {
                    wordEnd -= 1
                    dropped = true
                }
            }
            var valueStart: Int?
            if let equals {
                valueStart = equals + 1
                if equals + 1 < end, bytes[equals + 1] == quote {
                    valueStart = equals + 2
                    dropClosingQuote(after: equals + 1)
                }
            }
            if quoted { dropClosingQuote(after: start) }
            let name = bytes[start..<(equals ?? wordEnd)]
            let value = valueStart.map { bytes[min($0, wordEnd)..<wordEnd] }
            let nameText = EnvironmentBytes.text(name)
            if value == nil && nameText == "--" { break }
            result.append((nameText, value.map(EnvironmentBytes.text)))
        }
        return result
    }

    /// The slot the bootloader booted, from `slotctl.slot=A|B|R`; the last
    /// occurrence wins, as for any kernel parameter. Nil when absent; an
    /// unknown value in the last occurrence is `usage`.
    public static func bootedSlot(_ commandLine: String) throws(SlotError) -> SlotName? {
        guard let last = parameters(commandLine).last(where: { $0.name == slotParameter }) else { return nil }
        guard let value = last.value, let slot = SlotName(rawValue: value) else {
            throw SlotError(.usage, "kernel command line: \(slotParameter)=\(last.value ?? "") is not A, B or R")
        }
        return slot
    }
}
