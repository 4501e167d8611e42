import SlotCodec
/// U-Boot's binary environment (what `saveenv`, `fw_printenv`/`fw_setenv`
/// and `mkenvimage` read and write), as pure encoding and decoding.
///
/// A copy of `size` bytes is a CRC32 (zlib), stored little-endian, then for a
/// redundant environment one flag byte, then the data area:
/// `name=value\0name=value\0\0` and padding to the end. The CRC covers the
/// whole data area, padding included (size − 4 bytes for a single copy,
/// size − 5 for redundant ones). slotctl pads with zeros, as U-Boot and
/// libubootenv do (`mkenvimage` pads with 0xFF; both read the same).
///
/// Variables keep their order and bytes; an entry without `=` is dropped
/// (libubootenv skips it, U-Boot deletes the name), and when a name occurs
/// twice the last value wins in the first one's place (both tools keep one).
public struct UBootEnvironment: Sendable, Equatable, BootloaderEnvironment {
    public struct Entry: Sendable, Equatable {
        public var name: [UInt8]
        public var value: [UInt8]
    }

    public private(set) var entries: [Entry] = []

    public init() {}

    public init(_ variables: [EnvironmentVariable]) throws(SlotError) {
        for variable in variables { try set(variable.name, variable.value) }
    }

    public var variables: [EnvironmentVariable] {
        entries.map { EnvironmentVariable(EnvironmentBytes.text($0.name), EnvironmentBytes.text($0.value)) }
    }

    public subscript(name: String) -> String? {
        let key = Array(name.utf8)
        return entries.first { $0.name == key }.map { EnvironmentBytes.text($0.value) }
    }

    /// Sets `name` where it is, or appends it. Names cannot be empty or hold
    /// `=` or NUL; values cannot hold NUL. An empty value is stored as such,
    /// but U-Boot's `setenv X ""` would delete X: use ``remove(_:)`` for that.
    public mutating func set(_ name: String, _ value: String) throws(SlotError) {
        try EnvironmentBytes.checkName(name, forbidden: [UInt8(ascii: "=")], format: "U-Boot environment")
        try EnvironmentBytes.checkValue(name, value, format: "U-Boot environment")
        let key = Array(name.utf8)
        if let index = entries.firstIndex(where: { $0.name == key }) {
            entries[index].value = Array(value.utf8)
        } else {
            entries.append(Entry(name: key, value: Array(value.utf8)))
        }
    }

    public mutating func remove(_ name: String) {
        let key = Array(name.utf8)
        entries.removeAll { $0.name == key }
    }

    // MARK: - Data area

    /// `name=value\0…\0` and zero padding to `capacity` bytes; refused when
    /// the variables do not fit.
    public func encodeData(capacity: Int) throws(SlotError) -> [UInt8] {
        var data: [UInt8] = []
        data.reserveCapacity(capacity)
        for entry in entries {
            data += entry.name
            data.append(UInt8(ascii: "="))
            data += entry.value
            data.append(0)
        }
        data.append(0)
        if data.count > capacity {
            throw SlotError(
                .io, "the U-Boot environment is too small: its variables need \(data.count) bytes, the data area has \(capacity)",
                cause: Errno.noSpace)
        }
        data += [UInt8](repeating: 0, count: capacity - data.count)
        return data
    }

    /// Parses a data area whose CRC has been checked. Nil when the entries
    /// run to the end without a terminating NUL (libubootenv refuses that too).
    public static func decodeData(_ data: ArraySlice<UInt8>) -> UBootEnvironment? {
        var env = UBootEnvironment()
        var start = data.startIndex
        while start < data.endIndex {
            guard let stop = data[start...].firstIndex(of: 0) else { return nil }
            if stop == start { break }  // the empty string ends the list
            let entry = data[start..<stop]
            if let equals = entry.firstIndex(of: UInt8(ascii: "=")) {
                let name = Array(entry[..<equals]), value = Array(entry[(equals + 1)...])
                if let index = env.entries.firstIndex(where: { $0.name == name }) {
                    env.entries[index].value = value
                } else {
                    env.entries.append(Entry(name: name, value: value))
                }
            }
            start = stop + 1
        }
        return env
    }

    // MARK: - Copies

    /// Bytes before the data area: CRC, plus the flag byte when redundant.
    public static func headerSize(redundant: Bool) -> Int { redundant ? 5 : 4 }

    /// One copy as read.
    public enum Copy: Sendable, Equatable {
        /// The CRC matches. `flag` is the redundant copy's flag byte, nil for a single copy.
        case valid(UBootEnvironment, flag: UInt8?)
        /// Why U-Boot would reject it.
        case invalid(String)

        public var environment: UBootEnvironment? {
            if case .valid(let env, _) = self { return env }
            return nil
        }

        public var flag: UInt8? {
            if case .valid(_, let flag) = self { return flag }
            return nil
        }

        public var isValid: Bool { environment != nil }
    }

    /// A whole copy of `size` bytes: CRC (little-endian), flag when
    /// `flag` is given (a redundant copy), data.
    public func encodeCopy(size: Int, flag: UInt8?) throws(SlotError) -> [UInt8] {
        let header = Self.headerSize(redundant: flag != nil)
        guard size > header else {
            throw SlotError(.invalidConfig, "a U-Boot environment of \(size) bytes has no room for data")
        }
        let data = try encodeData(capacity: size - header)
        let crc = CRC32.checksum(data)
        var copy: [UInt8] = [UInt8(truncatingIfNeeded: crc), UInt8(truncatingIfNeeded: crc >> 8), UInt8(truncatingIfNeeded: crc >> 16), UInt8(truncatingIfNeeded: crc >> 24)]
        if let flag { copy.append(flag) }
        copy += data
        return copy
    }

    /// Checks and parses one copy as U-Boot would.
    public static func decodeCopy(_ bytes: [UInt8], redundant: Bool) -> Copy {
        let header = headerSize(redundant: redundant)
        guard bytes.count > header else { return .invalid("only \(bytes.count) bytes") }
        let data = bytes[header...]
        let stored = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
        var crc = CRC32()
        data.withUnsafeBytes { crc.update($0) }
        guard crc.value == stored else {
            if data.allSatisfy({ $0 == 0xFF }) && stored == 0xFFFF_FFFF { return .invalid("erased (all bytes 0xFF): never written") }
            if bytes.allSatisfy({ $0 == 0 }) { return .invalid("all zero: never written") }
            if crc.value == stored.byteSwapped {
                return .invalid("CRC stored big-endian (an image for a big-endian target, mkenvimage -b?); slotctl reads little-endian environments")
            }
            return .invalid("CRC mismatch: stored \(CRC32.hex(stored)), computed \(CRC32.hex(crc.value))")
        }
        guard let env = decodeData(data) else { return .invalid("the variables are not terminated by a NUL byte") }
        return .valid(env, flag: redundant ? bytes[4] : nil)
    }

    /// The copy U-Boot uses: the only valid one, or of two valid redundant
    /// copies the one with the higher flag, where 0 follows 255 (the counter
    /// wraps) and equal flags pick copy 0. Nil when none is valid: U-Boot
    /// then boots with its compiled-in default environment.
    public static func currentIndex(_ copies: [Copy]) -> Int? {
        let valid = copies.indices.filter { copies[$0].isValid }
        guard valid.count == 2 else { return valid.first }
        let first = copies[0].flag ?? 0, second = copies[1].flag ?? 0
        if first == 255 && second == 0 { return 1 }
        if second == 255 && first == 0 { return 0 }
        return second > first ? 1 : 0
    }
}
