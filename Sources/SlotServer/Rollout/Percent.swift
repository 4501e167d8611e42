import SlotWire

/// Percent on the API, buckets (basis points) inside: one bucket is 0.01 %.
enum Percent {
    /// Validates an API percentage and converts it with the shared bucket rule.
    static func basisPoints(_ percent: Double, field: String) throws(ServerError) -> Int {
        guard percent.isFinite, percent >= 0, percent <= 100 else {
            throw ServerError.badRequest("\(field) must be a number from 0 to 100, got \(percent)")
        }
        return RolloutBucket.threshold(percent: percent)
    }

    static func percent(basisPoints: Int) -> Double { Double(basisPoints) / 100 }

    static func format(basisPoints: Int) -> String {
        let whole = basisPoints / 100
        let fraction = basisPoints % 100
        return fraction == 0 ? "\(whole)%" : "\(whole).\(fraction < 10 ? "0" : "")\(fraction)%"
    }
}
