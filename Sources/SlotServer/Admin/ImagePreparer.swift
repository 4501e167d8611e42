import Crypto
import Foundation
import SlotCodec
import SlotWire
#if canImport(Glibc)
import Glibc
#endif

/// What `deploy` uploads: the manifest describing the image and the file to send.
public struct PreparedPayload: Sendable {
    public var manifest: ReleaseManifest
    /// The image itself, or a temporary gzip of it.
    public var payloadPath: String
    public var isTemporary: Bool
    /// SHA-1 of the payload bytes (lower-case hex), for hawkBit DDI clients; not signed, not trusted.
    public var payloadSHA1: String
}

/// Reads an image once, in chunks: size, CRC-32 and SHA-256 of the image and,
/// with gzip, the compressed payload written to a temporary file beside it;
/// the SHA-1 of the payload too.
public enum ImagePreparer {
    public static func prepare(
        imagePath: String, compatible: String, version: String, securityVersion: UInt64, gzip: Bool,
        temporaryDirectory: String = NSTemporaryDirectory()
    ) throws(ServerError) -> PreparedPayload {
        let input = open(imagePath, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw ServerError.io("cannot open the image \(imagePath)", cause: errnoError()) }
        defer { close(input) }

        var size: UInt64 = 0
        var crc = CRC32()
        var sha = SHA256()
        var payloadSHA1 = Insecure.SHA1()
        var payloadPath = imagePath
        var output: PayloadFile?
        var deflater: GzipDeflater?
        if gzip {
            payloadPath = temporaryDirectory + "/slot-deploy-\(UUID().uuidString.lowercased()).gz"
            output = try PayloadFile(creating: payloadPath)
            do throws(CodecError) {
                deflater = try GzipDeflater()
            } catch {
                throw ServerError(error)
            }
        }
        var completed = false
        defer {
            output?.close()
            if gzip && !completed { unlink(payloadPath) }
        }

        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let n = read(input, chunk.baseAddress, chunk.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw ServerError.io("reading \(imagePath) failed", cause: errnoError())
            }
            let bytes = UnsafeRawBufferPointer(rebasing: chunk[..<n])
            if let deflater, let output {
                try deflater.deflate(bytes, finish: n == 0, wrap: ServerError.init) { (compressed) throws(ServerError) in
                    payloadSHA1.update(bufferPointer: compressed)
                    try output.write(compressed)
                }
            } else {
                payloadSHA1.update(bufferPointer: bytes)
            }
            if n == 0 { break }
            size += UInt64(n)
            crc.update(bytes)
            sha.update(bufferPointer: bytes)
        }
        output?.close()

        var payloadSize = size
        if gzip {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: payloadPath),
                let compressed = (attributes[.size] as? NSNumber)?.uint64Value
            else { throw ServerError.io("cannot read the size of \(payloadPath)") }
            payloadSize = compressed
        }
        let manifest = ReleaseManifest(
            compatible: compatible, version: version, securityVersion: securityVersion, size: size, crc32: crc.hex,
            sha256: Hex.string(sha.finalize()), compression: gzip ? .gzip : .none, payloadSize: payloadSize)
        do {
            try manifest.validate()
        } catch {
            throw ServerError.badRequest("the release would be invalid: \(error.message)", cause: error)
        }
        completed = true
        return PreparedPayload(
            manifest: manifest, payloadPath: payloadPath, isTemporary: gzip, payloadSHA1: Hex.string(payloadSHA1.finalize()))
    }

    private static func errnoError() -> (any Error)? {
        POSIXErrorCode(rawValue: errno).map { POSIXError($0) }
    }
}
