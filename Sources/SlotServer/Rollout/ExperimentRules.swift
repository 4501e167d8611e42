/// The invariant of A/B experiments: arms of one experiment share channel and
/// compatible and split the bucket range without overlapping. Both stores call
/// this inside the transaction that writes an arm.
enum ExperimentRules {
    static func validate(_ candidate: ReleaseRecord, against others: [ReleaseRecord]) throws(ServerError) {
        guard let arm = candidate.experiment else { return }
        for other in others where other.id != candidate.id {
            guard let otherArm = other.experiment, otherArm.name == arm.name else { continue }
            if other.channel != candidate.channel || other.manifest.compatible != candidate.manifest.compatible {
                throw ServerError.conflict(
                    "experiment '\(arm.name)' already runs on channel '\(other.channel)' for '\(other.manifest.compatible)'")
            }
            if arm.overlaps(otherArm) {
                throw ServerError.conflict(
                    "experiment '\(arm.name)': arm \(Self.describe(arm)) overlaps arm \(Self.describe(otherArm)) of release \(other.id)")
            }
        }
    }

    static func describe(_ arm: ExperimentSlot) -> String {
        "[\(Percent.format(basisPoints: arm.startBucket)), \(Percent.format(basisPoints: arm.endBucket)))"
    }
}
