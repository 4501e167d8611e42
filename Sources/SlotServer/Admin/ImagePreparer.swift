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
    /// The chunk index, when asked for (delta downloads).
    public var index: ChunkIndex?
}

/// Reads an image once, in chunks: size, CRC-32 and SHA-256 of the image and,
/// with gzip, the compressed payload written to a temporary file beside it;
/// the SHA-1 of the payload too. With `chunkSize` it also cuts the image into
/// chunks for the chunk index, and a gzip payload is written so that each
/// chunk can be fetched and inflated on its own (``ChunkedGzipWriter``). The
/// index's block size is `blockSize`, else the block size of an ext2/3/4
/// file system in the image, else 4 KiB; never more than the chunk size.
public enum ImagePreparer {
    public static func prepare(
        imagePath: String, compatible: String, version: String, securityVersion: UInt64, gzip: Bool,
        chunkSize: Int? = nil, blockSize: Int? = nil, temporaryDirectory: String = NSTemporaryDirectory()
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
        var chunked: ChunkedGzipWriter?
        var builder: ChunkIndex.Builder?
        if let chunkSize {
            guard ChunkIndex.chunkSizes.contains(chunkSize), chunkSize & (chunkSize - 1) == 0 else {
                throw ServerError.badRequest("the chunk size must be a power of two from 512 B to 1 MiB, got \(chunkSize)")
            }
            let blocks = blockSize ?? min(chunkSize, extBlockSize(input) ?? 4096)
            guard ChunkIndex.isValid(chunkSize: chunkSize, blockSize: blocks) else {
                throw ServerError.badRequest("the block size must be a power of two from 512 B to the chunk size (\(chunkSize)), got \(blocks)")
            }
            builder = ChunkIndex.Builder(chunkSize: chunkSize, blockSize: blocks, compression: gzip ? .gzip : .none)
        }
        if gzip {
            payloadPath = temporaryDirectory + "/slot-deploy-\(UUID().uuidString.lowercased()).gz"
            output = try PayloadFile(creating: payloadPath)
            do throws(CodecError) {
                if chunkSize != nil {
                    chunked = try ChunkedGzipWriter()
                } else {
                    deflater = try GzipDeflater()
                }
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
        if chunked != nil, let output {
            let header = UnsafeMutableRawBufferPointer(rebasing: chunk[0..<ChunkedGzipWriter.header.count])
            header.copyBytes(from: ChunkedGzipWriter.header)
            payloadSHA1.update(bufferPointer: UnsafeRawBufferPointer(header))
            try output.write(UnsafeRawBufferPointer(header))
        }
        while true {
            // Whole buffers, so chunks never straddle two reads.
            var n = 0
            while n < chunk.count {
                let got = read(input, chunk.baseAddress! + n, chunk.count - n)
                if got < 0 {
                    if errno == EINTR { continue }
                    throw ServerError.io("reading \(imagePath) failed", cause: errnoError())
                }
                if got == 0 { break }
                n += got
            }
            let bytes = UnsafeRawBufferPointer(rebasing: chunk[..<n])
            if let chunkSize, var index = builder {
                var at = 0
                while at < n {
                    let piece = UnsafeRawBufferPointer(rebasing: bytes[at..<min(n, at + chunkSize)])
                    var written = piece.count
                    if let chunked, let output {
                        written = try chunked.chunk(piece, wrap: ServerError.init) { (compressed) throws(ServerError) in
                            payloadSHA1.update(bufferPointer: compressed)
                            try output.write(compressed)
                        }
                    }
                    index.append(piece, payloadBytes: written)
                    at += piece.count
                }
                builder = index
                if n < chunk.count, let chunked, let output {
                    try chunked.finish(wrap: ServerError.init) { (compressed) throws(ServerError) in
                        payloadSHA1.update(bufferPointer: compressed)
                        try output.write(compressed)
                    }
                }
                if chunked == nil { payloadSHA1.update(bufferPointer: bytes) }
            } else if let deflater, let output {
                try deflater.deflate(bytes, finish: n < chunk.count, wrap: ServerError.init) { (compressed) throws(ServerError) in
                    payloadSHA1.update(bufferPointer: compressed)
                    try output.write(compressed)
                }
            } else {
                payloadSHA1.update(bufferPointer: bytes)
            }
            size += UInt64(n)
            crc.update(bytes)
            sha.update(bufferPointer: bytes)
            if n < chunk.count { break }
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
            manifest: manifest, payloadPath: payloadPath, isTemporary: gzip, payloadSHA1: Hex.string(payloadSHA1.finalize()),
            index: builder?.finish(payloadSize: payloadSize))
    }

    /// The block size of an ext2/3/4 file system starting at byte 0 of
    /// `fd`, read from its superblock (at 1024: `s_log_block_size` at +24,
    /// the magic 0xEF53 at +56); nil for anything else.
    static func extBlockSize(_ fd: Int32) -> Int? {
        var superblock = [UInt8](repeating: 0, count: 64)
        guard superblock.withUnsafeMutableBytes({ pread(fd, $0.baseAddress, 64, 1024) }) == 64,
            superblock[56] == 0x53, superblock[57] == 0xEF
        else { return nil }
        let log = UInt32(superblock[24]) | UInt32(superblock[25]) << 8 | UInt32(superblock[26]) << 16 | UInt32(superblock[27]) << 24
        return log <= 6 ? 1024 << Int(log) : nil
    }

    private static func errnoError() -> (any Error)? {
        POSIXErrorCode(rawValue: errno).map { POSIXError($0) }
    }
}
