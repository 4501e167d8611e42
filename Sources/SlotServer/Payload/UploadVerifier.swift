import Crypto
import SlotCodec
import SlotWire

/// Checks an upload against its signed manifest as the bytes arrive: the
/// payload's length and SHA-256 (the ETag), and the image's size, CRC-32 and
/// SHA-256, inflating gzip payloads on the fly.
final class UploadVerifier {
    let manifest: ReleaseManifest
    private(set) var payloadBytes: UInt64 = 0
    private var payloadHash = SHA256()
    private var payloadSHA1 = Insecure.SHA1()
    private var imageBytes: UInt64 = 0
    private var imageHash = SHA256()
    private var imageCRC = CRC32()
    private let inflater: GzipInflater?

    init(manifest: ReleaseManifest) throws(ServerError) {
        self.manifest = manifest
        do throws(CodecError) {
            inflater = manifest.compression == .gzip ? try GzipInflater() : nil
        } catch {
            throw ServerError(error)
        }
    }

    func update(_ bytes: UnsafeRawBufferPointer) throws(ServerError) {
        payloadBytes += UInt64(bytes.count)
        if payloadBytes > manifest.payloadSize {
            throw ServerError.badRequest("the upload is longer than the manifest's payloadSize (\(manifest.payloadSize) bytes)")
        }
        payloadHash.update(bufferPointer: bytes)
        payloadSHA1.update(bufferPointer: bytes)
        if let inflater {
            try inflater.inflate(bytes, wrap: ServerError.init) { (image) throws(ServerError) in try self.image(image) }
        } else {
            try image(bytes)
        }
    }

    private func image(_ bytes: UnsafeRawBufferPointer) throws(ServerError) {
        imageBytes += UInt64(bytes.count)
        if imageBytes > manifest.size {
            throw ServerError.badRequest("the image is larger than the manifest's size (\(manifest.size) bytes)")
        }
        imageHash.update(bufferPointer: bytes)
        imageCRC.update(bytes)
    }

    /// Verifies the complete upload; returns the payload's SHA-256 (the ETag)
    /// and SHA-1 (for hawkBit DDI clients), hex.
    func finish() throws(ServerError) -> (sha256: String, sha1: String) {
        guard payloadBytes == manifest.payloadSize else {
            throw ServerError.badRequest("the upload ended after \(payloadBytes) of \(manifest.payloadSize) bytes")
        }
        do throws(CodecError) {
            try inflater?.finish()
        } catch {
            throw ServerError(error)
        }
        guard imageBytes == manifest.size else {
            throw ServerError.badRequest("the image is \(imageBytes) bytes, the manifest says \(manifest.size)")
        }
        let crc = imageCRC.hex
        guard crc == manifest.crc32.lowercased() else {
            throw ServerError.badRequest("the image's crc32 is \(crc), the manifest says \(manifest.crc32)")
        }
        let sha = Hex.string(imageHash.finalize())
        guard sha == manifest.sha256.lowercased() else {
            throw ServerError.badRequest("the image's sha256 is \(sha), the manifest says \(manifest.sha256)")
        }
        return (Hex.string(payloadHash.finalize()), Hex.string(payloadSHA1.finalize()))
    }
}
