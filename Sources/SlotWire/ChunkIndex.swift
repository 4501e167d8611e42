import Crypto
import FoundationEssentials
import SlotCodec

/// The chunk index of a release: the image cut into fixed-size chunks, each
/// chunk's hash, and where its bytes lie in the payload, so a device can copy
/// the chunks it already holds and fetch only the others with `Range`.
///
/// Fixed chunks, not content-defined ones: measured on rebuilt ext4 root file
/// systems (`Benchmarks/delta-study/REPORT.md`), chunks aligned to the file
/// system's blocks isolate each changed metadata block and beat casync's and
/// zchunk's content-defined chunks.
///
/// A chunk's hash is a hash of its blocks' digests (``ChunkHash``), so a
/// device finds a chunk anywhere in its old slot at any block boundary, and
/// chunks can be several blocks long: a 1 KiB-block file system in 4 KiB
/// chunks needs a quarter of the index and of the per-chunk payload overhead
/// of 1 KiB chunks, yet still finds data that moved by one block.
///
/// The encoded form (what `deploy` publishes):
///
///     "SLOTIDX2"  u8 compression (0 none, 1 chunked gzip)  u8 hash length (8)
///     u16 0  u32 chunk size  u32 block size  u64 image size  u64 payload size
///     u64 offset of the first chunk's bytes in the payload  u32 chunk count
///     gzip of: chunk hashes, then (chunked gzip only) each chunk's byte count
///     in the payload as an unsigned LEB128
///
/// All integers little-endian. Chunk hashes are 64 bits: they find chunks and
/// check each as it lands (a false match among a few hundred thousand chunks
/// is about one in 2^30 per update); the whole image's SHA-256, which the
/// release signature covers, stays the proof of the image.
public struct ChunkIndex: Sendable, Equatable {
    public static let magic: [UInt8] = Array("SLOTIDX2".utf8)
    public static let hashLength = 8
    static let headerSize = 48
    /// Chunk sizes a release may use: powers of two from 512 B to 1 MiB.
    public static let chunkSizes: ClosedRange<Int> = 512...(1 << 20)
    /// Larger indexes are refused before anything is allocated (a 64 GiB
    /// image in 4 KiB chunks).
    public static let maxChunks = 1 << 24

    public var compression: PayloadCompression
    public var chunkSize: Int
    /// The blocks whose digests make a chunk's hash: a power of two from
    /// 512 B to the chunk size, best the file system's block size.
    public var blockSize: Int
    public var imageSize: UInt64
    public var payloadSize: UInt64
    /// Offset in the payload of chunk 0's bytes (after the gzip header).
    public var dataStart: UInt64
    public private(set) var hashes: [ChunkHash]
    /// Start of each chunk's bytes in the payload, plus one past the last.
    public private(set) var offsets: [UInt64]

    public var count: Int { offsets.count - 1 }
    public var blocksPerChunk: Int { chunkSize / blockSize }

    public func hash(_ chunk: Int) -> ChunkHash { hashes[chunk] }

    /// Image bytes of `chunk` (the last one may be short).
    public func imageRange(_ chunk: Int) -> Range<UInt64> {
        let start = UInt64(chunk) * UInt64(chunkSize)
        return start..<min(imageSize, start + UInt64(chunkSize))
    }

    /// Payload bytes of chunks `first..<end`.
    public func payloadRange(_ chunks: Range<Int>) -> Range<UInt64> {
        offsets[chunks.lowerBound]..<offsets[chunks.upperBound]
    }

    /// Whether this index can describe `manifest`'s image and payload.
    public func matches(_ manifest: ReleaseManifest) -> Bool {
        imageSize == manifest.size && payloadSize == manifest.payloadSize && compression == manifest.compression
    }

    /// Whether `blockSize` can cut `chunkSize`-byte chunks: both powers of
    /// two, the block from 512 B to the chunk size.
    public static func isValid(chunkSize: Int, blockSize: Int) -> Bool {
        chunkSizes.contains(chunkSize) && chunkSize & (chunkSize - 1) == 0
            && (512...chunkSize).contains(blockSize) && blockSize & (blockSize - 1) == 0
    }

    // MARK: - Building

    /// Collects chunks as `deploy` cuts the image.
    public struct Builder: Sendable {
        public let chunkSize: Int
        public let blockSize: Int
        public let compression: PayloadCompression
        private var hashes: [ChunkHash] = []
        private var offsets: [UInt64]
        private var imageSize: UInt64 = 0
        private var digests: [UInt8] = []

        /// The sizes must pass ``ChunkIndex/isValid(chunkSize:blockSize:)``.
        public init(chunkSize: Int, blockSize: Int, compression: PayloadCompression) {
            self.chunkSize = chunkSize
            self.blockSize = blockSize
            self.compression = compression
            offsets = [compression == .gzip ? UInt64(ChunkedGzipWriter.header.count) : 0]
        }

        /// One chunk of the image and how many payload bytes it took.
        public mutating func append(_ chunk: UnsafeRawBufferPointer, payloadBytes: Int) {
            hashes.append(ChunkHash(of: chunk, blockSize: blockSize, digests: &digests))
            imageSize += UInt64(chunk.count)
            offsets.append(offsets[offsets.count - 1] + UInt64(payloadBytes))
        }

        public func finish(payloadSize: UInt64) -> ChunkIndex {
            ChunkIndex(
                compression: compression, chunkSize: chunkSize, blockSize: blockSize, imageSize: imageSize,
                payloadSize: payloadSize, dataStart: offsets[0], hashes: hashes, offsets: offsets)
        }
    }

    // MARK: - Encoding

    public func encoded() -> [UInt8] {
        var out = Self.magic
        out.append(compression == .gzip ? 1 : 0)
        out.append(UInt8(Self.hashLength))
        out.append(contentsOf: [0, 0])
        Self.put(UInt64(chunkSize), 4, &out)
        Self.put(UInt64(blockSize), 4, &out)
        Self.put(imageSize, 8, &out)
        Self.put(payloadSize, 8, &out)
        Self.put(dataStart, 8, &out)
        Self.put(UInt64(count), 4, &out)
        var body: [UInt8] = []
        body.reserveCapacity(count * (Self.hashLength + 2))
        for hash in hashes { body.append(contentsOf: hash.bytes) }
        if compression == .gzip {
            for chunk in 0..<count {
                var n = offsets[chunk + 1] - offsets[chunk]
                while n >= 0x80 {
                    body.append(UInt8(n & 0x7f) | 0x80)
                    n >>= 7
                }
                body.append(UInt8(n))
            }
        }
        if let deflater = try? GzipDeflater(level: 9) {
            body.withUnsafeBytes { bytes in
                try? deflater.deflate(bytes, finish: true, wrap: { (error: CodecError) in error }) { (chunk) throws(CodecError) in
                    out.append(contentsOf: chunk)
                }
            }
        }
        return out
    }

    /// Parses and checks an index: every size consistent with every other,
    /// nothing allocated beyond what the header's sizes allow.
    public init(parsing data: [UInt8]) throws(WireError) {
        guard data.count >= Self.headerSize, Array(data[0..<8]) == Self.magic else {
            throw WireError("not a slotctl chunk index (bad magic or too short)")
        }
        func get(_ at: Int, _ width: Int) -> UInt64 {
            var value: UInt64 = 0
            for i in (0..<width).reversed() { value = value << 8 | UInt64(data[at + i]) }
            return value
        }
        let compression: PayloadCompression
        switch data[8] {
        case 0: compression = .none
        case 1: compression = .gzip
        default: throw WireError("chunk index: unknown payload compression \(data[8])")
        }
        guard Int(data[9]) == Self.hashLength, data[10] == 0, data[11] == 0 else {
            throw WireError("chunk index: unsupported hash length \(data[9]) or flags")
        }
        let chunkSize = Int(get(12, 4))
        guard Self.chunkSizes.contains(chunkSize), chunkSize & (chunkSize - 1) == 0 else {
            throw WireError("chunk index: chunk size \(chunkSize) is not a power of two from 512 B to 1 MiB")
        }
        let blockSize = Int(get(16, 4))
        guard Self.isValid(chunkSize: chunkSize, blockSize: blockSize) else {
            throw WireError("chunk index: block size \(blockSize) is not a power of two from 512 B to the chunk size")
        }
        let imageSize = get(20, 8)
        let payloadSize = get(28, 8)
        let dataStart = get(36, 8)
        let count = Int(get(44, 4))
        guard imageSize > 0, imageSize < 1 << 62, payloadSize < 1 << 62, count <= Self.maxChunks,
            UInt64(count) == (imageSize + UInt64(chunkSize) - 1) / UInt64(chunkSize)
        else {
            throw WireError("chunk index: \(count) chunks of \(chunkSize) bytes cannot make an image of \(imageSize) bytes")
        }
        switch compression {
        case .none:
            guard dataStart == 0, payloadSize == imageSize else {
                throw WireError("chunk index: an uncompressed payload starts at 0 and is as large as the image")
            }
        case .gzip:
            guard dataStart == UInt64(ChunkedGzipWriter.header.count) else {
                throw WireError("chunk index: a chunked gzip payload's chunks start after its 10-byte header")
            }
        }
        // The body: hashes plus at most 10 bytes of length per chunk.
        let limit = count * (Self.hashLength + (compression == .gzip ? 10 : 0))
        let inflated: Result<[UInt8], WireError> = data.withUnsafeBytes { bytes in
            do throws(CodecError) {
                var body: [UInt8] = []
                body.reserveCapacity(count * Self.hashLength)
                let inflater = try GzipInflater()
                try inflater.inflate(UnsafeRawBufferPointer(rebasing: bytes[Self.headerSize...]), wrap: { $0 }) { (chunk) throws(CodecError) in
                    guard body.count + chunk.count <= limit else { throw CodecError(.corrupt, "its body is larger than its header allows") }
                    body.append(contentsOf: chunk)
                }
                try inflater.finish()
                return .success(body)
            } catch {
                return .failure(WireError("chunk index: \(error.message)"))
            }
        }
        let body = try inflated.get()
        let hashBytes = count * Self.hashLength
        guard body.count >= hashBytes else { throw WireError("chunk index: \(count) chunks but only \(body.count / Self.hashLength) hashes") }
        var offsets = [UInt64](repeating: 0, count: count + 1)
        offsets[0] = dataStart
        switch compression {
        case .none:
            guard body.count == hashBytes else { throw WireError("chunk index: data after the hashes") }
            for chunk in 0..<count { offsets[chunk + 1] = min(imageSize, UInt64(chunk + 1) * UInt64(chunkSize)) }
        case .gzip:
            // A chunk's bytes: at least the flush marker, at most deflate's
            // stored-block expansion of the chunk plus flush overhead.
            let most = UInt64(chunkSize + chunkSize / 1024 * 5 + 64)
            var at = hashBytes
            for chunk in 0..<count {
                var value: UInt64 = 0
                var shift: UInt64 = 0
                while true {
                    guard at < body.count, shift < 63 else { throw WireError("chunk index: chunk \(chunk)'s length is cut off") }
                    let byte = body[at]
                    at += 1
                    value |= UInt64(byte & 0x7f) << shift
                    shift += 7
                    if byte & 0x80 == 0 { break }
                }
                guard value >= 1, value <= most else {
                    throw WireError("chunk index: chunk \(chunk) takes \(value) payload bytes, impossible for \(chunkSize)-byte chunks")
                }
                offsets[chunk + 1] = offsets[chunk] + value
            }
            guard at == body.count else { throw WireError("chunk index: data after the chunk lengths") }
            // The stream's end marker (at least 2 bytes) and the 8-byte trailer follow the last chunk.
            guard offsets[count] + 10 <= payloadSize else {
                throw WireError("chunk index: its chunks end at byte \(offsets[count]), past the \(payloadSize)-byte payload's end")
            }
        }
        let hashes = (0..<count).map { chunk in
            ChunkHash(value: (0..<Self.hashLength).reduce(UInt64(0)) { $0 << 8 | UInt64(body[chunk * Self.hashLength + $1]) })
        }
        self.init(
            compression: compression, chunkSize: chunkSize, blockSize: blockSize, imageSize: imageSize,
            payloadSize: payloadSize, dataStart: dataStart, hashes: hashes, offsets: offsets)
    }

    private init(
        compression: PayloadCompression, chunkSize: Int, blockSize: Int, imageSize: UInt64, payloadSize: UInt64,
        dataStart: UInt64, hashes: [ChunkHash], offsets: [UInt64]
    ) {
        self.compression = compression
        self.chunkSize = chunkSize
        self.blockSize = blockSize
        self.imageSize = imageSize
        self.payloadSize = payloadSize
        self.dataStart = dataStart
        self.hashes = hashes
        self.offsets = offsets
    }

    private static func put(_ value: UInt64, _ width: Int, _ out: inout [UInt8]) {
        for i in 0..<width { out.append(UInt8(truncatingIfNeeded: value >> (8 * i))) }
    }
}

/// A chunk's identity: the first 64 bits of the SHA-256 of its blocks'
/// digests (``BlockDigests``), in order. Built from block digests so that a
/// device can find a chunk at any block boundary of its old slot from one
/// digest per block, without hashing the slot once per possible offset.
public struct ChunkHash: Hashable, Sendable {
    public let value: UInt64

    public init(value: UInt64) { self.value = value }

    /// As the index stores it: the digest's first 8 bytes, in order.
    public var bytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) } }

    /// The hash of `digests`, a run of block digests.
    public init(digests: UnsafeRawBufferPointer) {
        value = SHA256.hash(data: digests).withUnsafeBytes { raw in
            (0..<8).reduce(UInt64(0)) { $0 << 8 | UInt64(raw[$1]) }
        }
    }

    /// The hash of a chunk's bytes; its block digests are left in `digests`
    /// (replacing what it held), for a caller that keeps them.
    public init(of chunk: UnsafeRawBufferPointer, blockSize: Int, digests: inout [UInt8]) {
        digests.removeAll(keepingCapacity: true)
        BlockDigests.append(chunk, blockSize: blockSize, to: &digests)
        self = digests.withUnsafeBytes { ChunkHash(digests: $0) }
    }

    public init(of chunk: UnsafeRawBufferPointer, blockSize: Int) {
        var digests: [UInt8] = []
        self.init(of: chunk, blockSize: blockSize, digests: &digests)
    }
}

/// Block digests: SHA-256 of each block cut to 128 bits. A device keeps
/// those of each installed image so that its next update finds the chunks it
/// holds without reading the slot.
public enum BlockDigests {
    public static let length = 16

    /// Appends the digest of each `blockSize` block of `bytes` (the last may be short).
    public static func append(_ bytes: UnsafeRawBufferPointer, blockSize: Int, to digests: inout [UInt8]) {
        var at = 0
        while at < bytes.count {
            let end = min(bytes.count, at + blockSize)
            SHA256.hash(data: UnsafeRawBufferPointer(rebasing: bytes[at..<end])).withUnsafeBytes { digests.append(contentsOf: $0[0..<length]) }
            at = end
        }
    }
}

/// Where a release's chunk index is and what it must be: its size and
/// SHA-256, signed by the release key together with the manifest (a second
/// signature, so devices that predate indexes still verify the first).
public struct ChunkIndexReference: Codable, Sendable, Equatable {
    public var url: String
    public var size: UInt64
    public var sha256: String
    /// Base64 Ed25519 signature over ``ReleaseManifest/indexSigningBytes(sha256:size:)``.
    public var signature: String

    public init(url: String, size: UInt64, sha256: String, signature: String) {
        self.url = url
        self.size = size
        self.sha256 = sha256
        self.signature = signature
    }

    /// Indexes above this are refused by server and device alike.
    public static let maxSize: UInt64 = 64 << 20
}

extension ReleaseManifest {
    /// What the index signature covers: the manifest's signed lines and the
    /// index's digest and size, so an index cannot be moved to another release.
    public func indexSigningBytes(sha256: String, size: UInt64) -> [UInt8] {
        Array("slotctl-chunk-index-v1\nindex-sha256=\(sha256.lowercased())\nindex-size=\(size)\n".utf8) + signingBytes
    }
}
