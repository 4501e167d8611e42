/// GRUB's environment block (`grubenv`, what `load_env`/`save_env` and
/// `grub-editenv` use), parsed and written the way GRUB does.
///
/// Layout: the signature `# GRUB Environment Block\n`, then lines, then `#`
/// padding to the block size (1024 bytes for a block made by
/// `grub-editenv create`). A line is `name=value\n`, where the value escapes
/// `\` and newline with a backslash, or a comment starting with `#`. There is
/// no checksum: a torn write is read as whatever the bytes say.
///
/// Reading follows GRUB exactly (`grub_envblk_iterate`): the name runs from
/// the start of a line to the first `=`, the value to the first unescaped
/// newline, a backslash takes the next byte literally, a comment runs to the
/// first unescaped newline, and reading stops at a variable that has no `=`
/// or no newline before the end of the block. When a name occurs twice, GRUB
/// keeps the last value (`load_env` sets them in order).
///
/// Every line the block held is kept, byte for byte, in order: variables
/// slotctl does not own, and comments such as Debian's "# WARNING" line.
/// ``set(_:_:)`` changes a variable where it is (and drops later duplicates,
/// which would otherwise win in GRUB) or appends it.
public struct GrubEnvironment: Sendable, Equatable, BootloaderEnvironment {
    public static let signature: [UInt8] = Array("# GRUB Environment Block\n".utf8)
    /// The size `grub-editenv create` gives a block.
    public static let standardSize = 1024

    /// A line of the block, without its newline.
    public enum Line: Sendable, Equatable {
        /// Name and value as stored, the value still escaped.
        case variable(name: [UInt8], escapedValue: [UInt8])
        /// Starts with `#`; GRUB skips it.
        case comment([UInt8])
    }

    /// What is wrong with a block as it was read, in GRUB's terms.
    public enum Problem: Sendable, Equatable, CustomStringConvertible {
        /// GRUB stops reading at this byte offset (a variable without `=`, or
        /// whose value has no newline before the end): the bytes after it,
        /// and any variables there, are invisible to GRUB.
        case readingStops(at: Int)
        /// The block does not end in a newline followed by `#` padding. GRUB's
        /// `save_env` (and `grub-editenv set`) then fail with "environment
        /// block too small", so GRUB cannot record anything until the block is
        /// rewritten.
        case noPadding

        public var description: String {
            switch self {
            case .readingStops(let offset):
                "GRUB stops reading at byte \(offset) (a variable without '=' or without a newline before the end of the block)"
            case .noPadding:
                "the block does not end in a newline and '#' padding: GRUB's save_env cannot update it"
            }
        }
    }

    /// The block size: the size of the file it was read from, or of a new one.
    public var size: Int
    public private(set) var lines: [Line]
    /// Empty for an intact block, and for one built in memory.
    public private(set) var problems: [Problem]

    /// An empty block of `size` bytes.
    public init(size: Int = GrubEnvironment.standardSize) {
        self.size = size
        self.lines = []
        self.problems = []
    }

    /// The variables as GRUB's `load_env` meets them (and as
    /// `grub-editenv list` prints them), duplicates included.
    public var variables: [EnvironmentVariable] {
        lines.compactMap { line in
            guard case .variable(let name, let escaped) = line else { return nil }
            return EnvironmentVariable(EnvironmentBytes.text(name), EnvironmentBytes.text(Self.unescape(escaped)))
        }
    }

    /// The value GRUB would see: the last one when a name occurs twice.
    public subscript(name: String) -> String? {
        let key = Array(name.utf8)
        for line in lines.reversed() {
            if case .variable(let lineName, let escaped) = line, lineName == key {
                return EnvironmentBytes.text(Self.unescape(escaped))
            }
        }
        return nil
    }

    /// Sets `name` where it is, or appends it. Names cannot be empty, start
    /// with `#`, or hold `=`, a newline or NUL; values cannot hold NUL.
    public mutating func set(_ name: String, _ value: String) throws(SlotError) {
        try EnvironmentBytes.checkName(name, forbidden: [UInt8(ascii: "="), UInt8(ascii: "\n")], format: "GRUB environment")
        if name.utf8.first == UInt8(ascii: "#") {
            throw SlotError(.usage, "GRUB environment: variable name '\(name)' starts with '#', which GRUB reads as a comment")
        }
        try EnvironmentBytes.checkValue(name, value, format: "GRUB environment")
        let key = Array(name.utf8)
        let line = Line.variable(name: key, escapedValue: Self.escape(Array(value.utf8)))
        if let first = indexOfVariable(key) {
            lines[first] = line
            lines = lines.enumerated().filter { index, line in index <= first || !line.isVariable(key) }.map(\.element)
        } else {
            lines.append(line)
        }
    }

    /// Removes every line that sets `name`.
    public mutating func remove(_ name: String) {
        let key = Array(name.utf8)
        lines.removeAll { $0.isVariable(key) }
    }

    private func indexOfVariable(_ key: [UInt8]) -> Int? {
        lines.firstIndex { $0.isVariable(key) }
    }

    // MARK: - Encoding

    /// The block, `size` bytes: signature, lines, `#` padding. A block that
    /// would not fit is refused (GRUB would say "environment block too small").
    public func encoded() throws(SlotError) -> [UInt8] {
        var bytes = Self.signature
        for line in lines {
            switch line {
            case .variable(let name, let escaped):
                bytes += name
                bytes.append(UInt8(ascii: "="))
                bytes += escaped
            case .comment(let text):
                bytes += text
            }
            bytes.append(UInt8(ascii: "\n"))
        }
        if bytes.count > size {
            throw SlotError(
                .io, "the GRUB environment block is too small: its variables need \(bytes.count) bytes, the block has \(size)",
                cause: Errno.noSpace)
        }
        bytes += [UInt8](repeating: UInt8(ascii: "#"), count: size - bytes.count)
        return bytes
    }

    static func escape(_ value: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(value.count)
        for byte in value {
            if byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\n") { out.append(UInt8(ascii: "\\")) }
            out.append(byte)
        }
        return out
    }

    /// A backslash takes the next byte as it is (GRUB does not know `\n` as
    /// an escape for newline: the escaped byte is the newline itself).
    static func unescape(_ escaped: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(escaped.count)
        var index = 0
        while index < escaped.count {
            if escaped[index] == UInt8(ascii: "\\"), index + 1 < escaped.count { index += 1 }
            out.append(escaped[index])
            index += 1
        }
        return out
    }

    // MARK: - Decoding

    /// Reads a block as GRUB does. Only a block without the signature is
    /// refused (GRUB: "invalid environment block"); a damaged one is read as
    /// far as GRUB reads it, with ``problems`` saying what is wrong.
    public static func parse(_ block: [UInt8]) throws(SlotError) -> GrubEnvironment {
        guard block.count >= signature.count, block.starts(with: signature) else {
            throw SlotError(.stateCorrupt, "not a GRUB environment block: it does not start with '# GRUB Environment Block' (GRUB: invalid environment block)")
        }
        let newline = UInt8(ascii: "\n"), backslash = UInt8(ascii: "\\"), hash = UInt8(ascii: "#"), equals = UInt8(ascii: "=")
        let end = block.count
        var env = GrubEnvironment(size: end)

        /// The index of the newline ending the line at `from`, skipping
        /// escaped bytes (GRUB's find_next_line); `end` or past when none.
        func lineEnd(_ from: Int) -> Int {
            var p = from
            while p < end {
                if block[p] == backslash {
                    p += 2
                } else if block[p] == newline {
                    return p
                } else {
                    p += 1
                }
            }
            return p
        }

        var p = signature.count
        while p < end {
            if block[p] == hash {
                let stop = lineEnd(p)
                guard stop < end else { break }  // the padding, or a last line GRUB skips
                env.lines.append(.comment(Array(block[p..<stop])))
                p = stop + 1
                continue
            }
            guard let equalsIndex = block[p..<end].firstIndex(of: equals) else {
                env.problems.append(.readingStops(at: p))
                break
            }
            var q = equalsIndex + 1
            while q < end, block[q] != newline {
                if block[q] == backslash { q += 1 }
                q += 1
            }
            guard q < end else {
                env.problems.append(.readingStops(at: p))
                break
            }
            env.lines.append(.variable(name: Array(block[p..<equalsIndex]), escapedValue: Array(block[(equalsIndex + 1)..<q])))
            p = q + 1
        }

        // grub_envblk_set finds the free space by walking back over the '#'
        // padding; anything but a newline before it means "broken".
        var space = end - 1
        while space >= 0, block[space] == hash { space -= 1 }
        if space < 0 || block[space] != newline {
            env.problems.append(.noPadding)
        }
        return env
    }
}

extension GrubEnvironment.Line {
    func isVariable(_ key: [UInt8]) -> Bool {
        if case .variable(let name, _) = self { return name == key }
        return false
    }
}
