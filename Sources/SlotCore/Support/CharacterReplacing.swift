extension String {
    /// Every `character` replaced by `replacement`; the standard library's
    /// `replacing(_:with:)` lives in _StringProcessing, which the static
    /// slot-boot does not link.
    func replacing(character: Character, with replacement: String) -> String {
        var result = ""
        for each in self {
            if each == character { result += replacement } else { result.append(each) }
        }
        return result
    }
}
