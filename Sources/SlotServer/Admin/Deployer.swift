import Foundation
import SlotWire
#if canImport(Glibc)
import Glibc
#endif

/// `slot-server deploy`: prepare the image, sign its manifest with the
/// operator's key (which never leaves this machine), create the release,
/// stream the payload. The server publishes it only once the bytes match.
public struct Deployer: Sendable {
    public struct Options: Sendable {
        public var imagePath: String
        public var compatible: String
        public var channel: String
        public var version: String
        public var securityVersion: UInt64 = 0
        public var rolloutPercent: Double?
        public var gzip = false
        public var experiment: ExperimentArm?
        /// Publish with this external payload URL instead of uploading.
        public var externalURL: String?
        /// nil: the server's default gate.
        public var maxInTrial: Int?
        public var trialTimeoutSeconds: Int?

        public init(imagePath: String, compatible: String, channel: String, version: String) {
            self.imagePath = imagePath
            self.compatible = compatible
            self.channel = channel
            self.version = version
        }
    }

    public let client: AdminClient
    public let privateKeyBase64: String

    public init(client: AdminClient, privateKeyBase64: String) {
        self.client = client
        self.privateKeyBase64 = privateKeyBase64
    }

    public func deploy(_ options: Options) async throws(ServerError) -> ReleaseInfo {
        let prepared = try ImagePreparer.prepare(
            imagePath: options.imagePath, compatible: options.compatible, version: options.version,
            securityVersion: options.securityVersion, gzip: options.gzip)
        defer { if prepared.isTemporary { unlink(prepared.payloadPath) } }

        let signature: String
        do {
            signature = try ReleaseSignature.sign(prepared.manifest, privateKeyBase64: privateKeyBase64)
        } catch {
            throw ServerError(.configuration, "signing failed: \(error.message)", cause: error)
        }
        var request = DeployRequest(
            channel: options.channel, manifest: prepared.manifest, signature: signature,
            rolloutPercent: options.experiment == nil ? (options.rolloutPercent ?? 100) : nil,
            experiment: options.experiment, url: options.externalURL, maxInTrial: options.maxInTrial,
            trialTimeoutSeconds: options.trialTimeoutSeconds)
        // The server hashes an upload itself; a payload it never sees needs the SHA-1 from here.
        if options.externalURL != nil { request.payloadSHA1 = prepared.payloadSHA1 }
        let created = try await client.createRelease(request)
        guard let uploadPath = created.uploadPath else { return created.release }
        return try await client.uploadPayload(file: prepared.payloadPath, uploadPath: uploadPath)
    }
}
