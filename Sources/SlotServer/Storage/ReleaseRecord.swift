import Foundation
import SlotWire

/// A release as stored: the signed manifest plus the server's rollout state.
///
/// Percentages are kept as basis points (0...10000, one per rollout bucket) so
/// that every replica and every database compares integers, never floats.
public struct ReleaseRecord: Sendable, Equatable {
    public var id: String
    public var channel: String
    public var manifest: ReleaseManifest
    public var signature: String
    /// An external payload URL (CDN); nil when this server stores the payload.
    public var externalURL: String?
    /// SHA-256 of the bytes served (the gzip stream for gzip payloads); the ETag.
    public var payloadSHA256: String?
    /// SHA-1 of the same bytes: what hawkBit's DDI hands SWUpdate (`hashes.sha1`).
    public var payloadSHA1: String?
    public var rolloutBasisPoints: Int
    public var paused: Bool
    public var pauseReason: String?
    public var autoPause: Bool
    public var experiment: ExperimentSlot?
    /// Health gating: at most this many devices, plus one per device that
    /// confirmed, in trial at once (offered the release, no `marked-good`,
    /// `fell-back` or `failed` yet, admitted less than `trialTimeoutSeconds`
    /// ago); 0: no gate, the percentage alone decides.
    public var maxInTrial: Int = 0
    public var trialTimeoutSeconds: Int = 3600
    /// The chunk index for delta downloads; an empty `url` means this server
    /// serves it (``IndexRoute``), from the bytes stored with the release.
    public var index: ChunkIndexReference?
    /// Set when published; deploy order of published releases.
    public var publishedSeq: Int64?
    public var createdAtMillis: Int64
    public var publishedAtMillis: Int64?

    public var isPublished: Bool { publishedSeq != nil }
    public var isGated: Bool { maxInTrial > 0 }

    public init(
        id: String, channel: String, manifest: ReleaseManifest, signature: String, externalURL: String?,
        payloadSHA256: String?, rolloutBasisPoints: Int, paused: Bool = false, pauseReason: String? = nil,
        autoPause: Bool = true, experiment: ExperimentSlot?, publishedSeq: Int64? = nil,
        createdAtMillis: Int64, publishedAtMillis: Int64? = nil
    ) {
        self.id = id
        self.channel = channel
        self.manifest = manifest
        self.signature = signature
        self.externalURL = externalURL
        self.payloadSHA256 = payloadSHA256
        self.rolloutBasisPoints = rolloutBasisPoints
        self.paused = paused
        self.pauseReason = pauseReason
        self.autoPause = autoPause
        self.experiment = experiment
        self.publishedSeq = publishedSeq
        self.createdAtMillis = createdAtMillis
        self.publishedAtMillis = publishedAtMillis
    }
}

/// An experiment arm in buckets: `[startBucket, endBucket)` of the buckets keyed by `name`.
public struct ExperimentSlot: Sendable, Equatable {
    public var name: String
    public var startBucket: Int
    public var endBucket: Int

    public init(name: String, startBucket: Int, endBucket: Int) {
        self.name = name
        self.startBucket = startBucket
        self.endBucket = endBucket
    }

    public func overlaps(_ other: ExperimentSlot) -> Bool {
        name == other.name && startBucket < other.endBucket && other.startBucket < endBucket
    }
}

extension ReleaseRecord {
    /// The `index_ref` column: the reference as JSON, NULL without an index.
    static func encodeIndexReference(_ reference: ChunkIndexReference?) throws(ServerError) -> String? {
        guard let reference else { return nil }
        do {
            return String(decoding: try WireJSON.encoder().encode(reference), as: UTF8.self)
        } catch {
            throw ServerError(.internal, "encoding a chunk index reference failed", cause: error)
        }
    }

    static func decodeIndexReference(_ text: String?) throws(ServerError) -> ChunkIndexReference? {
        guard let text else { return nil }
        do {
            return try WireJSON.decoder().decode(ChunkIndexReference.self, from: Data(text.utf8))
        } catch {
            throw ServerError.storage("a release's chunk index reference is unreadable", cause: error)
        }
    }
}
