import Crypto
import Foundation
import SlotCodec
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
        /// Chunk size of the chunk index; nil: no index.
        public var chunkSize: Int? = 4096
        /// Block size of the chunk index; nil: the image's file system's, else 4 KiB.
        public var blockSize: Int?
        /// With `externalURL`: where the index lives; nil: the server serves it.
        public var indexURL: String?
        /// Also write the payload here, and its index beside it (`.index`).
        public var writePayload: String?

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
            securityVersion: options.securityVersion, gzip: options.gzip, chunkSize: options.chunkSize,
            blockSize: options.blockSize)
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
        let indexBytes = prepared.index?.encoded()
        if let indexBytes {
            let sha256 = Hex.string(SHA256.hash(data: indexBytes))
            let size = UInt64(indexBytes.count)
            guard size <= ChunkIndexReference.maxSize else {
                throw ServerError.badRequest("the chunk index would take \(size) bytes, over the limit of \(ChunkIndexReference.maxSize); use a larger --chunk-size or --no-index")
            }
            let indexSignature: String
            do {
                indexSignature = try ReleaseSignature.sign(prepared.manifest.indexSigningBytes(sha256: sha256, size: size), privateKeyBase64: privateKeyBase64)
            } catch {
                throw ServerError(.configuration, "signing failed: \(error.message)", cause: error)
            }
            request.index = ChunkIndexReference(url: options.indexURL ?? "", size: size, sha256: sha256, signature: indexSignature)
            if options.indexURL == nil { request.indexData = Data(indexBytes).base64EncodedString() }
        }
        if let target = options.writePayload {
            try Self.copy(prepared.payloadPath, to: target)
            if let indexBytes {
                guard FileManager.default.createFile(atPath: target + ".index", contents: Data(indexBytes)) else {
                    throw ServerError.io("cannot write \(target).index")
                }
            }
        }
        let created = try await client.createRelease(request)
        guard let uploadPath = created.uploadPath else { return created.release }
        return try await client.uploadPayload(file: prepared.payloadPath, uploadPath: uploadPath)
    }

    private static func copy(_ source: String, to target: String) throws(ServerError) {
        do {
            if FileManager.default.fileExists(atPath: target) { try FileManager.default.removeItem(atPath: target) }
            try FileManager.default.copyItem(atPath: source, toPath: target)
            // For a web server to read: a temporary gzip is made private.
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: target)
        } catch {
            throw ServerError.io("cannot write the payload to \(target)", cause: error)
        }
    }
}
