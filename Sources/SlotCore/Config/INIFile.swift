/// A parsed INI file that remembers where every key came from, so a bad
/// value can be reported as `file:line: [section] key: problem`.
///
/// Syntax: `[section]` headers, `key = value` lines, comments starting with
/// `#` or `;` at the start of a line or after whitespace. Keys before the
/// first section, lines without `=`, and a key given twice in one section
/// are errors.
public struct INIFile: Sendable {
    public struct Entry: Sendable {
        public var key: String
        public var value: String
        public var line: Int
    }

    public struct Section: Sendable {
        public var name: String
        public var line: Int
        public var entries: [Entry]

        public func entry(_ key: String) -> Entry? { entries.first { $0.key == key } }
    }

    public let path: String
    public private(set) var sections: [Section] = []

    public func section(_ name: String) -> Section? { sections.first { $0.name == name } }

    public init(path: String, text: String) throws(SlotError) {
        self.path = path
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = Self.stripComment(rawLine).trimmingWhitespace()
            if line.isEmpty { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), line.count > 2 else {
                    throw error(line: lineNumber, "malformed section header '\(line)'")
                }
                let name = String(line.dropFirst().dropLast()).trimmingWhitespace()
                if sections.contains(where: { $0.name == name }) {
                    throw error(line: lineNumber, "section [\(name)] appears twice")
                }
                sections.append(Section(name: name, line: lineNumber, entries: []))
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw error(line: lineNumber, "expected 'key = value', got '\(line)'")
            }
            let key = String(line[..<equals]).trimmingWhitespace()
            let value = String(line[line.index(after: equals)...]).trimmingWhitespace()
            guard !key.isEmpty else { throw error(line: lineNumber, "missing key before '='") }
            guard !sections.isEmpty else {
                throw error(line: lineNumber, "key '\(key)' appears before any [section]")
            }
            if sections[sections.count - 1].entry(key) != nil {
                throw error(line: lineNumber, "key '\(key)' appears twice in [\(sections[sections.count - 1].name)]")
            }
            sections[sections.count - 1].entries.append(Entry(key: key, value: value, line: lineNumber))
        }
    }

    private func error(line: Int, _ message: String) -> SlotError {
        SlotError(.invalidConfig, "\(path):\(line): \(message)")
    }

    /// Drops a comment: `#` or `;` at the start, or after a space or tab.
    private static func stripComment(_ line: Substring) -> Substring {
        var previous: Character = " "
        for index in line.indices {
            let character = line[index]
            if (character == "#" || character == ";") && (previous == " " || previous == "\t") {
                return line[..<index]
            }
            previous = character
        }
        return line
    }
}
