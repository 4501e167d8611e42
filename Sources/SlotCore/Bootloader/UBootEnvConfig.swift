/// `fw_env.config`: where the U-Boot environment lives, read the way
/// `fw_printenv` (libubootenv, and U-Boot's own tools/env) reads it.
///
/// Each line is `device offset envsize [sectorsize [nsectors]]`; one line is
/// a single copy, two lines are redundant copies (further lines are refused).
/// Blank lines are skipped, and so is any line whose first field starts with
/// `#`; a field starting with `#` ends the line. Numbers are read as the tools
/// read them (`%lli` and `%lx`):
/// - the offset like C's `strtoll` base 0: `0x…` hex, a leading `0` octal,
///   otherwise decimal, with a sign; a negative offset counts from the end of
///   the device;
/// - envsize, sectorsize and nsectors always in hex, with or without `0x`:
///   `4000` is 0x4000 bytes, as `fw_printenv` takes it.
/// A relative device path is taken relative to the config file's directory.
public struct UBootEnvConfig: Sendable, Equatable {
    public static let defaultPath = "/etc/fw_env.config"

    public struct Copy: Sendable, Equatable {
        public var device: String
        /// Negative: from the end of the device.
        public var offset: Int64
        public var size: Int
        /// Erase-block size and count: only used for MTD, which slotctl refuses.
        public var sectorSize: Int?
        public var sectorCount: Int?
        /// Line in the config, for messages.
        public var line: Int

        public init(device: String, offset: Int64, size: Int, sectorSize: Int? = nil, sectorCount: Int? = nil, line: Int = 0) {
            self.device = device
            self.offset = offset
            self.size = size
            self.sectorSize = sectorSize
            self.sectorCount = sectorCount
            self.line = line
        }
    }

    public var path: String
    public var copies: [Copy]

    public init(path: String, copies: [Copy]) {
        self.path = path
        self.copies = copies
    }

    public var isRedundant: Bool { copies.count == 2 }
    /// The environment size (CONFIG_ENV_SIZE), the same for both copies.
    public var size: Int { copies[0].size }

    /// Environments larger than this are refused as a likely config mistake.
    public static let maxSize = 16 << 20

    public static func load(path: String) throws(SlotError) -> UBootEnvConfig {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path, limit: 1 << 20)
        } catch {
            throw SlotError(error.code == .notFound ? .invalidConfig : error.code, "cannot read U-Boot environment config '\(path)'", cause: error.cause)
        }
        return try parse(path: path, text: EnvironmentBytes.text(bytes))
    }

    public static func parse(path: String, text: String) throws(SlotError) -> UBootEnvConfig {
        var copies: [Copy] = []
        let base = FileSystem.parentDirectory(of: path)
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = index + 1
            var fields = rawLine.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            if let comment = fields.firstIndex(where: { $0.hasPrefix("#") }) { fields.removeSubrange(comment...) }
            if fields.isEmpty { continue }
            let here = "\(path):\(line)"
            guard fields.count >= 3 else {
                throw SlotError(.invalidConfig, "\(here): expected 'device offset envsize [sectorsize [nsectors]]', got '\(rawLine)'")
            }
            guard fields.count <= 6 else {
                throw SlotError(.invalidConfig, "\(here): too many fields in '\(rawLine)'")
            }
            guard let offset = parseOffset(fields[1]) else {
                throw SlotError(.invalidConfig, "\(here): offset '\(fields[1])' is not a number (decimal, 0x hex or 0 octal)")
            }
            guard let size = parseHex(fields[2]), size > 0 else {
                throw SlotError(.invalidConfig, "\(here): envsize '\(fields[2])' is not a positive hex number (fw_printenv reads it as hex)")
            }
            guard size > UBootEnvironment.headerSize(redundant: true), size <= maxSize else {
                throw SlotError(.invalidConfig, "\(here): envsize 0x\(String(size, radix: 16)) is out of range")
            }
            var optional: [Int] = []
            for (name, field) in zip(["sectorsize", "nsectors", "disable-lock"], fields.dropFirst(3)) {
                guard let value = parseHex(field) else {
                    throw SlotError(.invalidConfig, "\(here): \(name) '\(field)' is not a hex number")
                }
                optional.append(value)
            }
            if copies.count == 2 {
                throw SlotError(.invalidConfig, "\(here): a third environment copy (only one or two are possible)")
            }
            let device = fields[0].hasPrefix("/") ? fields[0] : base + "/" + fields[0]
            copies.append(Copy(device: device, offset: offset, size: size, sectorSize: optional.first, sectorCount: optional.dropFirst().first, line: line))
        }
        guard let first = copies.first else {
            throw SlotError(.invalidConfig, "\(path): no environment device configured")
        }
        if copies.count == 2 {
            if copies[1].size != first.size {
                throw SlotError(.invalidConfig, "\(path):\(copies[1].line): the two copies differ in size (0x\(String(first.size, radix: 16)) and 0x\(String(copies[1].size, radix: 16)))")
            }
            if copies[0].device == copies[1].device, copies[0].offset >= 0, copies[1].offset >= 0,
                abs(copies[0].offset - copies[1].offset) < Int64(first.size)
            {
                throw SlotError(.invalidConfig, "\(path):\(copies[1].line): the two copies overlap on '\(first.device)'")
            }
        }
        return UBootEnvConfig(path: path, copies: copies)
    }

    /// `strtoll(text, 0)` for a whole field: sign, then `0x` hex, `0` octal or decimal.
    static func parseOffset(_ text: String) -> Int64? {
        var digits = Substring(text)
        var negative = false
        if let sign = digits.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            digits = digits.dropFirst()
        }
        var radix = 10
        if digits.lowercased().hasPrefix("0x") {
            radix = 16
            digits = digits.dropFirst(2)
        } else if digits.count > 1, digits.hasPrefix("0") {
            radix = 8
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isHexDigit }), let magnitude = Int64(digits, radix: radix) else { return nil }
        return negative ? -magnitude : magnitude
    }

    /// `%lx` for a whole field: hex digits, with an optional `0x`.
    static func parseHex(_ text: String) -> Int? {
        var digits = Substring(text)
        if digits.lowercased().hasPrefix("0x") { digits = digits.dropFirst(2) }
        guard !digits.isEmpty, digits.allSatisfy(\.isHexDigit) else { return nil }
        return Int(digits, radix: 16)
    }
}
