import SlotWire

/// Which release a device gets. Pure and deterministic: the same releases and
/// the same request give the same answer in every process, on every replica.
public enum RolloutPolicy {
    /// - Parameter releases: the published releases of the device's channel and
    ///   compatible, newest (highest deploy order) first.
    /// - Returns: the newest non-paused release the device is inside the rollout
    ///   of, whose version differs from the device's, and that is newer than the
    ///   release whose version the device already runs; nil for "nothing".
    ///   - accept: whether this device may have a release it is inside the
    ///     rollout of (health gating: admitted to its trial); a release it may not
    ///     have is passed over like a paused one.
    public static func choose(
        among releases: [ReleaseRecord], for request: CheckRequest, accept: (ReleaseRecord) -> Bool = { _ in true }
    ) -> ReleaseRecord? {
        // Never go back behind what the device runs: the newest release of its
        // version is the floor (a device on 2.0 is not offered 1.9 deployed before 2.0,
        // but is offered a 1.9 re-deployed after 2.0 as a roll-back).
        // By index: the releases are read where they lie, and only the one returned is copied.
        let floor = releases.firstIndex(where: { $0.manifest.version == request.version }).flatMap { releases[$0].publishedSeq } ?? Int64.min
        for index in releases.indices {
            guard let seq = releases[index].publishedSeq, seq > floor else { break }
            if releases[index].paused || releases[index].manifest.version == request.version { continue }
            if includes(releases[index], clientId: request.clientId) && accept(releases[index]) { return releases[index] }
        }
        return nil
    }

    /// The bucket rule: `bucket(release id) < percent × 100`, or for an
    /// experiment arm `start ≤ bucket(experiment) < end`. Widening a rollout
    /// only raises the bound, so devices already in stay in.
    public static func includes(_ release: ReleaseRecord, clientId: String) -> Bool {
        if let arm = release.experiment {
            let bucket = RolloutBucket.bucket(key: arm.name, clientId: clientId)
            return bucket >= arm.startBucket && bucket < arm.endBucket
        }
        if release.rolloutBasisPoints >= RolloutBucket.count { return true }
        if release.rolloutBasisPoints <= 0 { return false }
        return RolloutBucket.bucket(key: release.id, clientId: clientId) < release.rolloutBasisPoints
    }
}
