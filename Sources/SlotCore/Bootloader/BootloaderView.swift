/// What a bootloader environment says about the next boots, read back the
/// way the boot scripts read it (for `slotctl status`).
public struct BootloaderView: Sendable, Equatable {
    public struct Slot: Sendable, Equatable {
        /// The boot script would boot it when its turn comes in the order.
        public var eligible: Bool
        /// Tries left; nil when the environment does not count it (a RAUC
        /// environment without `<S>_LEFT`) or the value is not a number.
        public var triesLeft: Int?

        public init(eligible: Bool, triesLeft: Int?) {
            self.eligible = eligible
            self.triesLeft = triesLeft
        }
    }

    public var kind: BootloaderKind
    /// The order is set (and not empty): slotctl, or RAUC, provisioned it.
    /// An unprovisioned environment boots A without counting.
    public var provisioned: Bool
    /// A and B as the order names them, first preferred.
    public var order: [SlotName]
    public var slots: [SlotName: Slot]
    public var recoveryOnce: Bool
    /// Values the boot scripts could not use, e.g. "A_LEFT='x' is not a number".
    public var problems: [String]

    public subscript(slot: SlotName) -> Slot {
        slots[slot] ?? Slot(eligible: false, triesLeft: nil)
    }

    /// The slot the bootloader boots next: R when asked once, A uncounted
    /// when not provisioned, else the first eligible slot in the order, else R.
    public var nextBoot: SlotName {
        if recoveryOnce { return .R }
        if !provisioned { return .A }
        return order.first { self[$0].eligible } ?? .R
    }

    /// Reads slotctl's variables from an environment.
    public init(_ kind: BootloaderKind, environment: some BootloaderEnvironment) {
        self.init(kind) { environment[$0] }
    }

    /// Reads slotctl's variables through `lookup` (nil: unset).
    public init(_ kind: BootloaderKind, lookup: (String) -> String?) {
        self.kind = kind
        problems = []
        slots = [:]
        let orderName = kind == .grub ? "ORDER" : "BOOT_ORDER"
        let orderText = lookup(orderName) ?? ""
        var order: [SlotName] = []
        for token in orderText.split(separator: " ", omittingEmptySubsequences: true) {
            if let slot = SlotName(rawValue: String(token)), SlotName.counted.contains(slot) {
                if !order.contains(slot) { order.append(slot) }
            } else {
                problems.append("\(orderName) names '\(token)', which is not A or B")
            }
        }
        self.order = order
        provisioned = !orderText.split(separator: " ").isEmpty

        for slot in SlotName.counted {
            let leftName = kind == .grub ? "\(slot)_LEFT" : "BOOT_\(slot)_LEFT"
            var left: Int?
            if let text = lookup(leftName) {
                left = kind == .grub ? Int(text) : Self.parseHex(text)
                if left == nil { problems.append("\(leftName)='\(text)' is not a \(kind == .grub ? "decimal" : "hex") number") }
            }
            var eligible = order.contains(slot) && (left ?? 0) > 0
            if kind == .grub {
                let ok = lookup("\(slot)_OK") == "1"
                if lookup(leftName) == nil {
                    // RAUC's rule, for an environment it wrote: OK and not tried.
                    eligible = order.contains(slot) && ok && lookup("\(slot)_TRY") != "1"
                } else {
                    eligible = eligible && ok
                }
            }
            slots[slot] = Slot(eligible: eligible, triesLeft: left)
        }
        recoveryOnce = lookup(kind == .grub ? "R_ONCE" : "BOOT_R_ONCE") == "1"
    }

    /// What the environment would say if it held exactly the projection of `state`.
    public init(projecting state: SystemState, kind: BootloaderKind, maxTries: Int) throws(SlotError) {
        let variables = try BootloaderProjection.variables(kind, state: state, maxTries: maxTries)
        self.init(kind) { name in variables.last { $0.name == name }?.value }
    }

    /// `setexpr` prints hex without 0x; U-Boot also reads it with one.
    static func parseHex(_ text: String) -> Int? {
        var digits = Substring(text)
        if digits.lowercased().hasPrefix("0x") { digits = digits.dropFirst(2) }
        guard !digits.isEmpty, digits.allSatisfy(\.isHexDigit) else { return nil }
        return Int(digits, radix: 16)
    }
}

/// One place where the bootloader environment and the state disagree.
public struct BootloaderDisagreement: Sendable, Equatable, CustomStringConvertible {
    /// What differs: `provisioned`, `next-boot`, `order`, `recovery-once`,
    /// `A.eligible`, `A.tries`, ...
    public var subject: String
    public var state: String
    public var bootloader: String

    public init(subject: String, state: String, bootloader: String) {
        self.subject = subject
        self.state = state
        self.bootloader = bootloader
    }

    public var description: String { "\(subject): state says \(state), bootloader environment says \(bootloader)" }
}

extension BootloaderView {
    /// Where this view and `state` disagree; empty when the environment is
    /// what slotctl would write for `state`. The order is compared over the
    /// eligible slots only (the rest never boot, whatever their place).
    public func disagreements(with state: SystemState, maxTries: Int) throws(SlotError) -> [BootloaderDisagreement] {
        let expected = try BootloaderView(projecting: state, kind: kind, maxTries: maxTries)
        var result: [BootloaderDisagreement] = []
        func differ(_ subject: String, _ state: String, _ bootloader: String) {
            if state != bootloader { result.append(BootloaderDisagreement(subject: subject, state: state, bootloader: bootloader)) }
        }
        func words(_ flag: Bool, _ yes: String, _ no: String) -> String { flag ? yes : no }

        differ("provisioned", words(expected.provisioned, "provisioned", "not provisioned"), words(provisioned, "provisioned", "not provisioned (boots A uncounted)"))
        differ("next-boot", expected.nextBoot.rawValue, nextBoot.rawValue)
        let expectedOrder = expected.order.filter { expected[$0].eligible }, actualOrder = order.filter { self[$0].eligible }
        differ("order", expectedOrder.isEmpty ? "none" : expectedOrder.map(\.rawValue).joined(separator: " "), actualOrder.isEmpty ? "none" : actualOrder.map(\.rawValue).joined(separator: " "))
        differ("recovery-once", String(expected.recoveryOnce), String(recoveryOnce))
        for slot in SlotName.counted {
            differ("\(slot).eligible", String(expected[slot].eligible), String(self[slot].eligible))
            if expected[slot].eligible && self[slot].eligible {
                differ("\(slot).tries", expected[slot].triesLeft.map(String.init) ?? "unset", self[slot].triesLeft.map(String.init) ?? "unset")
            }
        }
        return result
    }
}
