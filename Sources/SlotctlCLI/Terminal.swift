import Glibc
import SlotCore

/// What the terminal can do: colour and progress bars only on a TTY.
public enum Terminal {
    public static var stdoutIsTTY: Bool { isatty(STDOUT_FILENO) == 1 }
    public static var stderrIsTTY: Bool { isatty(STDERR_FILENO) == 1 }

    /// Colour when stdout is a TTY, `NO_COLOR` is unset and TERM is not dumb.
    public static var useColor: Bool {
        guard stdoutIsTTY, getenv("NO_COLOR") == nil else { return false }
        if let term = getenv("TERM"), String(cString: term) == "dumb" { return false }
        return true
    }

    public enum Color: String {
        case red = "31", green = "32", yellow = "33", blue = "34", dim = "2", bold = "1"
    }

    public static func paint(_ text: String, _ color: Color) -> String {
        useColor ? "\u{1B}[\(color.rawValue)m\(text)\u{1B}[0m" : text
    }

    public static func printError(_ message: String) {
        writeStderr("slotctl: error: \(message)\n")
    }

    public static func writeStderr(_ text: String) {
        try? FileDescriptor.standardError.write(Array(text.utf8))
    }

    /// Unbuffered, so a reader on a pipe (the C API reading `update --json`)
    /// sees each line when it is written.
    public static func writeStdout(_ text: String) {
        try? FileDescriptor.standardOutput.write(Array(text.utf8))
    }
}
