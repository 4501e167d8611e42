/// The three slots: A and B take turns holding the running system, R holds
/// the factory image and is the last resort.
public enum SlotName: String, CaseIterable, Sendable, Comparable, CustomStringConvertible {
    case A, B, R

    /// The slots that have a boot counter and can be installed to by updates.
    public static let counted: [SlotName] = [.A, .B]

    public init?(argument: String) {
        self.init(rawValue: argument.uppercased())
    }

    /// The other one of A and B; nil for R.
    public var sibling: SlotName? {
        switch self {
        case .A: .B
        case .B: .A
        case .R: nil
        }
    }

    public var description: String { rawValue }

    public static func < (lhs: SlotName, rhs: SlotName) -> Bool { lhs.rawValue < rhs.rawValue }
}
