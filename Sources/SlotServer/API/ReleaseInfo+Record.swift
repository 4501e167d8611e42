import SlotCodec
extension ReleaseInfo {
    /// The admin view of a stored release.
    init(_ record: ReleaseRecord) {
        self.init(
            id: record.id, channel: record.channel, manifest: record.manifest, signature: record.signature,
            state: record.isPublished ? .published : .pendingUpload, deployOrder: record.publishedSeq,
            rolloutPercent: Percent.percent(basisPoints: record.rolloutBasisPoints), paused: record.paused,
            pauseReason: record.pauseReason, autoPause: record.autoPause,
            experiment: record.experiment.map {
                ExperimentArm(
                    name: $0.name, start: Percent.percent(basisPoints: $0.startBucket),
                    end: Percent.percent(basisPoints: $0.endBucket))
            },
            externalURL: record.externalURL,
            payloadPath: record.externalURL == nil ? PayloadURL.path(releaseId: record.id) : nil,
            createdAt: Timestamp.iso8601(millis: record.createdAtMillis),
            publishedAt: record.publishedAtMillis.map(Timestamp.iso8601(millis:)))
        maxInTrial = record.maxInTrial
        trialTimeoutSeconds = record.trialTimeoutSeconds
    }
}
