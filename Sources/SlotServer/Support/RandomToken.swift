import SlotCodec

/// 256 bits from the system's CSPRNG (getrandom), as 64 hex digits: admin
/// tokens, enrolment tokens and the secrets replicas share.
enum RandomToken {
    static func hex256() -> String {
        var random = SystemRandomNumberGenerator()
        return (0..<4).map { _ in Hex.fixedWidth(random.next(), digits: 16) }.joined()
    }
}
