import Crypto
import FoundationEssentials
import SlotCodec

/// The chunk index of a release: the image cut into fixed-size chunks, each
/// chunk's hash, and where its bytes lie in the payload, so a device can copy
/// the chunks it already holds and fetch only the others with `Range`.
///
/// Fixed chunks, not content-defined ones: measured on rebuilt ext4 root file
/// systems (`Benchmarks/delta-study/REPORT.md`), chunks the size of the file
/// system's blocks isolate each changed metadata block and beat casync's and
/// zchunk's content-defined chunks by 6–12×.
///
/// The encoded form (what `deploy` publishes and the device keeps):
///
///     "SLOTIDX1"  u8 compression (0 none, 1 chunked gzip)  u8 hash length (16)
///     u16 0  u32 chunk size  u64 image size  u64 payload size
///     u64 offset of the first chunk's bytes in the payload  u32 chunk count
///     gzip of: chunk hashes, then (chunked gzip only) each chunk's byte count
///     in the payload as an unsigned LEB128
///
/// All integers little-endian. Hashes are SHA-256 cut to 128 bits (zchunk's
/// size): they find and check chunks; the whole image's SHA-256, which the
/// release signature covers, stays the proof of the image.
public struct ChunkIndex: Sendable, Equatable {
    public static let magic: [UInt8] = Array("SLOTIDX1".utf8)
    public static let hashLength = 16
    static let headerSize = 44
    /// Chunk sizes a release may use: powers of two from 512 B to 1 MiB.
    public static let chunkSizes: ClosedRange<Int> = 512...(1 << 20)
    /// Larger indexes are refused before anything is allocated (a 64 GiB
    /// image in 4 KiB chunks).
    public static let maxChunks = 1 << 24

    public var compression: PayloadCompression
    public var chunkSize: Int
    public var imageSize: UInt64
    public var payloadSize: UInt64
    /// Offset in the payload of chunk 0's bytes (after the gzip header).
    public var dataStart: UInt64
    /// `count` hashes of ``hashLength`` bytes, one after the other.
    public private(set) var hashes: [UInt8]
    /// Start of each chunk's bytes in the payload, plus one past the last.
    public private(set) var offsets: [UInt64]

    public var count: Int { offsets.count - 1 }

    public func hash(_ chunk: Int) -> ChunkHash {
        hashes.withUnsafeBytes { ChunkHash(UnsafeRawBufferPointer(rebasing: $0[chunk * Self.hashLength..<(chunk + 1) * Self.hashLength])) }
    }

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

    // MARK: - Building

    /// Collects chunks as `deploy` cuts the image.
    public struct Builder: Sendable {
        public let chunkSize: Int
        public let compression: PayloadCompression
        private var hashes: [UInt8] = []
        private var offsets: [UInt64]
        private var imageSize: UInt64 = 0

        public init(chunkSize: Int, compression: PayloadCompression) {
            self.chunkSize = chunkSize
            self.compression = compression
            offsets = [compression == .gzip ? UInt64(ChunkedGzipWriter.header.count) : 0]
        }

        /// One chunk of the image and how many payload bytes it took.
        public mutating func append(_ chunk: UnsafeRawBufferPointer, payloadBytes: Int) {
            hashes.append(contentsOf: ChunkHash(of: chunk).bytes)
            imageSize += UInt64(chunk.count)
            offsets.append(offsets[offsets.count - 1] + UInt64(payloadBytes))
        }

        public func finish(payloadSize: UInt64) -> ChunkIndex {
            ChunkIndex(
                compression: compression, chunkSize: chunkSize, imageSize: imageSize, payloadSize: payloadSize,
                dataStart: offsets[0], hashes: hashes, offsets: offsets)
        }
    }

    // MARK: - Encoding

    public func encoded() -> [UInt8] {
        var out = Self.magic
        out.append(compression == .gzip ? 1 : 0)
        out.append(UInt8(Self.hashLength))
        out.append(contentsOf: [0, 0])
        Self.put(UInt64(chunkSize), 4, &out)
        Self.put(imageSize, 8, &out)
        Self.put(payloadSize, 8, &out)
        Self.put(dataStart, 8, &out)
        Self.put(UInt64(count), 4, &out)
        var body = hashes
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
        let imageSize = get(16, 8)
        let payloadSize = get(24, 8)
        let dataStart = get(32, 8)
        let count = Int(get(40, 4))
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
        var body = try inflated.get()
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
        body.removeSubrange(hashBytes...)
        self.init(
            compression: compression, chunkSize: chunkSize, imageSize: imageSize, payloadSize: payloadSize,
            dataStart: dataStart, hashes: body, offsets: offsets)
    }

    private init(
        compression: PayloadCompression, chunkSize: Int, imageSize: UInt64, payloadSize: UInt64, dataStart: UInt64,
        hashes: [UInt8], offsets: [UInt64]
    ) {
        self.compression = compression
        self.chunkSize = chunkSize
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

/// A chunk's identity: SHA-256 cut to 128 bits, as two words so that
/// dictionaries of a few hundred thousand of them stay cheap.
public struct ChunkHash: Hashable, Sendable {
    public let high: UInt64
    public let low: UInt64

    public init(of bytes: UnsafeRawBufferPointer) {
        let digest = SHA256.hash(data: bytes)
        self = digest.withUnsafeBytes { ChunkHash(UnsafeRawBufferPointer(rebasing: $0[0..<ChunkIndex.hashLength])) }
    }

    init(_ raw: UnsafeRawBufferPointer) {
        var high: UInt64 = 0
        var low: UInt64 = 0
        for i in 0..<8 {
            high = high << 8 | UInt64(raw[i])
            low = low << 8 | UInt64(raw[8 + i])
        }
        self.high = high
        self.low = low
    }

    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) } + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
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
