import Synchronization

/// What this instance knows of health-gated trials, so that the check path
/// asks the store only when a device may be admitted: the devices admitted
/// through it (or confirmed admitted by the store), and the releases whose
/// trial the store last said was full. The store decides every admission
/// (``MetadataStore/admitTrial(releaseId:clientId:max:cutoffMillis:atMillis:)``);
/// this only saves asking again.
final class TrialGate: Sendable {
    private struct Known {
        var admitted: [String: Set<String>] = [:]
        var fullUntil: [String: ContinuousClock.Instant] = [:]
    }

    private let known = Mutex(Known())
    /// How long a "full" answer is believed: about one catalog refresh.
    let fullFor: Duration

    init(fullFor: Duration) {
        self.fullFor = fullFor
    }

    func isAdmitted(_ releaseId: String, _ clientId: String) -> Bool {
        known.withLock { $0.admitted[releaseId]?.contains(clientId) ?? false }
    }

    func admitted(_ releaseId: String, _ clientId: String) {
        _ = known.withLock { $0.admitted[releaseId, default: []].insert(clientId) }
    }

    /// The store refused an admission: no other device is sent to ask for a while.
    func full(_ releaseId: String, now: ContinuousClock.Instant = .now) {
        known.withLock { $0.fullUntil[releaseId] = now + fullFor }
    }

    func isKnownFull(_ releaseId: String, now: ContinuousClock.Instant = .now) -> Bool {
        known.withLock { ($0.fullUntil[releaseId] ?? now) > now }
    }

    /// Whether `clientId` may be given `release` without asking the store.
    func mayOffer(_ release: ReleaseRecord, to clientId: String) -> Bool {
        !release.isGated || isAdmitted(release.id, clientId)
    }
}
