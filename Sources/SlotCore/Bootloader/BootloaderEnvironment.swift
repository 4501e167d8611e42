/// One variable of a bootloader environment, as the bootloader sees it.
public struct EnvironmentVariable: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }

    public var description: String { "\(name)=\(value)" }
}

/// What the projection needs from an environment: read a variable, set one.
/// ``GrubEnvironment`` and ``UBootEnvironment`` keep every variable they do
/// not own, in its place.
public protocol BootloaderEnvironment: Sendable {
    /// The value the bootloader would see, nil when unset.
    subscript(name: String) -> String? { get }
    /// Sets a variable in place, or appends it when it is new.
    mutating func set(_ name: String, _ value: String) throws(SlotError)
}

extension BootloaderEnvironment {
    /// Sets each variable, in order.
    public mutating func apply(_ variables: [EnvironmentVariable]) throws(SlotError) {
        for variable in variables {
            try set(variable.name, variable.value)
        }
    }
}

/// Byte helpers shared by the two codecs: variables are bytes on disk and
/// foreign ones are kept byte for byte, whatever their encoding.
enum EnvironmentBytes {
    static func text(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    /// Checks a variable name a bootloader could store; `forbidden` are bytes
    /// the format cannot hold in a name.
    static func checkName(_ name: String, forbidden: [UInt8], format: String) throws(SlotError) {
        let bytes = Array(name.utf8)
        if bytes.isEmpty {
            throw SlotError(.usage, "\(format): a variable name cannot be empty")
        }
        if let bad = bytes.first(where: { forbidden.contains($0) || $0 == 0 }) {
            throw SlotError(.usage, "\(format): variable name '\(name)' contains \(describe(bad)), which the format cannot hold")
        }
    }

    static func checkValue(_ name: String, _ value: String, format: String) throws(SlotError) {
        if value.utf8.contains(0) {
            throw SlotError(.usage, "\(format): the value of '\(name)' contains a NUL byte, which the format cannot hold")
        }
    }

    static func describe(_ byte: UInt8) -> String {
        switch byte {
        case 0: "a NUL byte"
        case UInt8(ascii: "\n"): "a newline"
        default: "'\(Character(Unicode.Scalar(byte)))'"
        }
    }
}
