extension StringProtocol {
    /// Without surrounding blanks, tabs, carriage returns and newlines: a
    /// value read from a file or a config line (FoundationEssentials has no
    /// `trimmingCharacters`, and the core does not load Foundation).
    public func trimmingWhitespace() -> String {
        // "\r\n" is a single Character, equal to neither "\r" nor "\n".
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        var text = Substring(self)
        while let first = text.first, isBlank(first) { text = text.dropFirst() }
        while let last = text.last, isBlank(last) { text = text.dropLast() }
        return String(text)
    }
}
