import FoundationEssentials
import Glibc
import SlotCodec
import SlotCore
import SlotWire

/// Delta updates: rebuilds the new image in order, chunk by chunk, from what
/// the device already holds and fetches the rest with `Range` requests.
///
/// Where each chunk of the new image comes from, first match wins:
/// 1. the booted slot, wherever the chunk sits in it at a block boundary
///    (found from its block digests: those kept when it was installed, or
///    from hashing it once);
/// 2. zeros, for an all-zero chunk;
/// 3. the target slot at the same offset: what an interrupted attempt already
///    wrote, or an unchanged chunk of the image the target held;
/// 4. the payload: runs of neighbouring chunks in one request.
///
/// Nothing local is trusted: every chunk is hashed as it is read, and one that
/// no longer matches (a slot changed behind slotctl's back) is fetched
/// instead. Fetched chunks are hashed too. The install session then checks
/// the whole image (size, SHA-256, CRC-32, read-back) as for a full download.
final class DeltaInstaller {
    /// What the device knows about one update before it writes a byte.
    struct Plan {
        enum Source: UInt8 {
            case booted, zero, target, fetch
        }

        let index: ChunkIndex
        var sources: [Source]
        /// For `.booted` chunks: their offset in the booted slot.
        var bootedOffsets: [UInt64]
        /// Runs of chunks fetched in one request each, in image order.
        var runs: [Range<Int>]
        /// How the booted slot's chunks were found: its stored digests, or a scan.
        var bootedIndexing: String
    }

    /// Counters for the progress and `SLOTCTL_TRACE`.
    struct Tally: CustomStringConvertible {
        var fromBooted: UInt64 = 0
        var fromTarget: UInt64 = 0
        var zeros: UInt64 = 0
        var fetchedPayload: UInt64 = 0
        var fetchedImage: UInt64 = 0
        var requests = 0
        /// Local chunks that did not match their hash when read, fetched instead.
        var changedLocally = 0

        var reused: UInt64 { fromBooted + fromTarget + zeros }

        var description: String {
            "reused \(reused) bytes (booted slot \(fromBooted), target \(fromTarget), zeros \(zeros)), fetched \(fetchedPayload) payload bytes for \(fetchedImage) image bytes in \(requests) requests"
                + (changedLocally > 0 ? ", \(changedLocally) local chunks had changed and were fetched" : "")
        }
    }

    /// Neighbouring runs are merged when the chunks between them take at most
    /// this many payload bytes: about what a separate range costs, a part of
    /// a multipart answer (~110 bytes of headers) or a request of its own.
    static func mergeGap(multiRange: Bool) -> UInt64 { multiRange ? 128 : 1024 }
    /// The payload bytes of one request at most (memory held at once).
    static let maxRun: UInt64 = 4 << 20

    // MARK: - Planning

    /// Finds every chunk the device holds. `scanning` is called before the
    /// booted slot is hashed (no stored index for it), to say so.
    static func plan(
        index: ChunkIndex, booted: (slot: SlotDefinition, record: SlotRecord)?, target: SlotDefinition, config: SystemConfig,
        multiRange: Bool, scanning: (SlotName) -> Void, isCancelled: () -> Bool
    ) throws(SlotError) -> Plan {
        var map: [ChunkHash: UInt64] = [:]
        var indexing = "none (no booted image)"
        if let (slot, record) = booted, let size = record.size {
            let digests: [UInt8]
            if let sha256 = record.sha256,
                let stored = InstalledDigests.load(slot.name, sha256: sha256, size: size, blockSize: index.blockSize, config: config)
            {
                indexing = "from the stored block digests of slot \(slot.name)"
                digests = stored
            } else {
                scanning(slot.name)
                indexing = "hashed slot \(slot.name) (no stored block digests for \(index.blockSize)-byte blocks)"
                digests = try scan(slot, size: size, blockSize: index.blockSize, isCancelled: isCancelled)
            }
            map = try windows(digests, blocks: Int(size / UInt64(index.blockSize)), index: index, isCancelled: isCancelled)
        }
        let zero = zeroHash(chunkSize: index.chunkSize, blockSize: index.blockSize)
        var sources = [Plan.Source](repeating: .fetch, count: index.count)
        var offsets = [UInt64](repeating: 0, count: index.count)
        let targetFD = try? SlotReader.open(target)
        defer { targetFD?.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: index.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        for chunk in 0..<index.count {
            let hash = index.hash(chunk)
            if let offset = map[hash] {
                sources[chunk] = .booted
                offsets[chunk] = offset
            } else if hash == zero && index.imageRange(chunk).count == index.chunkSize {
                sources[chunk] = .zero
            } else if let targetFD, (try? readChunk(targetFD, at: index.imageRange(chunk), into: buffer, blockSize: index.blockSize)) == hash {
                sources[chunk] = .target
            }
            if chunk & 0xfff == 0, isCancelled() { throw SlotError(.cancelled, "update cancelled") }
        }
        return Plan(index: index, sources: sources, bootedOffsets: offsets, runs: runs(index, sources, mergeGap: mergeGap(multiRange: multiRange)), bootedIndexing: indexing)
    }

    /// Runs of fetched chunks, neighbours merged across small gaps, each at
    /// most ``maxRun`` payload bytes.
    static func runs(_ index: ChunkIndex, _ sources: [Plan.Source], mergeGap: UInt64) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        var chunk = 0
        while chunk < index.count {
            guard sources[chunk] == .fetch else {
                chunk += 1
                continue
            }
            var end = chunk + 1
            while end < index.count {
                if sources[end] == .fetch {
                    guard index.payloadRange(chunk..<end + 1).count <= maxRun else { break }
                    end += 1
                    continue
                }
                // A gap of local chunks: bridge it if it is cheap and a fetched chunk follows.
                var next = end
                while next < index.count && sources[next] != .fetch && index.payloadRange(end..<next + 1).count <= mergeGap { next += 1 }
                guard next < index.count, sources[next] == .fetch, index.payloadRange(chunk..<next + 1).count <= maxRun else { break }
                end = next
            }
            runs.append(chunk..<end)
            chunk = end
        }
        return runs
    }

    /// The block digests of a slot without stored ones: one sequential read.
    static func scan(_ slot: SlotDefinition, size: UInt64, blockSize: Int, isCancelled: () -> Bool) throws(SlotError) -> [UInt8] {
        let fd = try SlotReader.open(slot)
        defer { fd.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        var digests: [UInt8] = []
        digests.reserveCapacity(Int((size + UInt64(blockSize) - 1) / UInt64(blockSize)) * BlockDigests.length)
        var position: UInt64 = 0
        while position < size {
            if isCancelled() { throw SlotError(.cancelled, "update cancelled") }
            let wanted = Int(min(UInt64(buffer.count), size - position))
            let got = try fd.readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<wanted]), at: position)
            BlockDigests.append(UnsafeRawBufferPointer(rebasing: buffer[0..<got]), blockSize: blockSize, to: &digests)
            guard got == wanted else { break }
            position += UInt64(got)
        }
        return digests
    }

    /// The hash of every run of a chunk's worth of whole blocks, at every
    /// block of the slot, to the offset of its first occurrence.
    static func windows(_ digests: [UInt8], blocks: Int, index: ChunkIndex, isCancelled: () -> Bool) throws(SlotError) -> [ChunkHash: UInt64] {
        let span = index.blocksPerChunk
        let blocks = min(blocks, digests.count / BlockDigests.length)
        guard blocks >= span else { return [:] }
        var map: [ChunkHash: UInt64] = [:]
        map.reserveCapacity(blocks - span + 1)
        let finished = digests.withUnsafeBytes { raw in
            for block in (0...(blocks - span)).reversed() {
                let hash = ChunkHash(digests: UnsafeRawBufferPointer(rebasing: raw[block * BlockDigests.length..<(block + span) * BlockDigests.length]))
                map[hash] = UInt64(block) * UInt64(index.blockSize)
                if block & 0xffff == 0, isCancelled() { return false }
            }
            return true
        }
        guard finished else { throw SlotError(.cancelled, "update cancelled") }
        return map
    }

    static func zeroHash(chunkSize: Int, blockSize: Int) -> ChunkHash {
        let zeros = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { zeros.deallocate() }
        zeros.initializeMemory(as: UInt8.self, repeating: 0)
        return ChunkHash(of: UnsafeRawBufferPointer(zeros), blockSize: blockSize)
    }

    /// Reads `range` of a slot into `buffer` and hashes it, its block digests
    /// left in `digests`; nil when the slot is shorter.
    private static func readChunk(
        _ fd: FileDescriptor, at range: Range<UInt64>, into buffer: UnsafeMutableRawBufferPointer, blockSize: Int, digests: inout [UInt8]
    ) throws(SlotError) -> ChunkHash? {
        let length = Int(range.count)
        let got = try fd.readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<length]), at: range.lowerBound)
        guard got == length else { return nil }
        return ChunkHash(of: UnsafeRawBufferPointer(rebasing: buffer[0..<length]), blockSize: blockSize, digests: &digests)
    }

    private static func readChunk(_ fd: FileDescriptor, at range: Range<UInt64>, into buffer: UnsafeMutableRawBufferPointer, blockSize: Int) throws(SlotError) -> ChunkHash? {
        var digests: [UInt8] = []
        return try readChunk(fd, at: range, into: buffer, blockSize: blockSize, digests: &digests)
    }

    // MARK: - Rebuilding

    private let plan: Plan
    private let downloader: PayloadDownloader
    /// Set when the server answers several ranges in one request.
    private let multiRange: MultiRangeFetcher?
    /// Payload bytes of runs fetched ahead with the run before them.
    private var prefetched: [Int: [UInt8]] = [:]
    private let bootedFD: FileDescriptor?
    private let targetFD: FileDescriptor?
    private let inflater: ChunkInflater?
    /// The image bytes produced last (the dictionary of the next fetched run):
    /// a buffer that fills up and then keeps only its last window.
    private let recent: UnsafeMutableRawBufferPointer
    private var recentCount = 0
    private let chunkBuffer: UnsafeMutableRawBufferPointer
    /// The block digests of the chunk being delivered.
    private var chunkDigests: [UInt8] = []
    /// Those of an all-zero chunk, hashed once.
    private var zeroDigests: [UInt8] = []
    /// The new image's block digests, kept for the next update.
    private(set) var digests: [UInt8] = []
    private(set) var tally = Tally()

    init(plan: Plan, downloader: PayloadDownloader, multiRange: MultiRangeFetcher?, booted: SlotDefinition?, target: SlotDefinition) throws(SlotError) {
        self.plan = plan
        self.downloader = downloader
        self.multiRange = multiRange
        bootedFD = try booted.map { (slot) throws(SlotError) in try SlotReader.open(slot) }
        targetFD = try? SlotReader.open(target)
        do throws(CodecError) {
            inflater = plan.index.compression == .gzip ? try ChunkInflater() : nil
        } catch {
            bootedFD?.close()
            targetFD?.close()
            throw SlotError(.badImage, error.message, cause: error)
        }
        chunkBuffer = .allocate(byteCount: plan.index.chunkSize, alignment: 4096)
        recent = .allocate(byteCount: max(1 << 20, plan.index.chunkSize) + ChunkInflater.window, alignment: 16)
        digests.reserveCapacity(Int((plan.index.imageSize + UInt64(plan.index.blockSize) - 1) / UInt64(plan.index.blockSize)) * BlockDigests.length)
        chunkBuffer.initializeMemory(as: UInt8.self, repeating: 0)
        _ = ChunkHash(of: UnsafeRawBufferPointer(chunkBuffer), blockSize: plan.index.blockSize, digests: &zeroDigests)
    }

    deinit {
        bootedFD?.close()
        targetFD?.close()
        recent.deallocate()
        chunkBuffer.deallocate()
    }

    /// Produces the whole image in order into `emit`; `progress` gets the
    /// image bytes done after each chunk or run.
    func run(
        emit: (UnsafeRawBufferPointer) throws(SlotError) -> Void, progress: (UInt64) -> Void, isCancelled: () -> Bool
    ) throws(SlotError) {
        let index = plan.index
        var nextRun = 0
        var chunk = 0
        while chunk < index.count {
            if isCancelled() { throw SlotError(.cancelled, "update cancelled") }
            if nextRun < plan.runs.count && plan.runs[nextRun].lowerBound == chunk {
                let run = plan.runs[nextRun]
                if prefetched[nextRun] == nil, let multiRange { try prefetch(from: nextRun, multiRange) }
                try fetch(run, bytes: prefetched.removeValue(forKey: nextRun), emit: emit)
                nextRun += 1
                chunk = run.upperBound
                progress(index.imageRange(chunk - 1).upperBound)
                continue
            }
            let range = index.imageRange(chunk)
            let piece = UnsafeMutableRawBufferPointer(rebasing: chunkBuffer[0..<Int(range.count)])
            var local = false
            switch plan.sources[chunk] {
            case .booted:
                // A chunk that cannot be read (a bad sector) is fetched like a changed one.
                if let bootedFD,
                    (try? Self.readChunk(bootedFD, at: plan.bootedOffsets[chunk]..<plan.bootedOffsets[chunk] + UInt64(range.count), into: piece, blockSize: index.blockSize, digests: &chunkDigests)) == index.hash(chunk)
                {
                    tally.fromBooted += UInt64(range.count)
                    local = true
                }
            case .target:
                if let targetFD, (try? Self.readChunk(targetFD, at: range, into: piece, blockSize: index.blockSize, digests: &chunkDigests)) == index.hash(chunk) {
                    tally.fromTarget += UInt64(range.count)
                    local = true
                }
            case .zero:
                piece.initializeMemory(as: UInt8.self, repeating: 0)
                chunkDigests = zeroDigests
                tally.zeros += UInt64(range.count)
                local = true
            case .fetch:
                break
            }
            if local {
                try deliver(UnsafeRawBufferPointer(piece), emit: emit)
            } else {
                // Changed (or unreadable) since it was planned: fetch it alone.
                tally.changedLocally += plan.sources[chunk] == .fetch ? 0 : 1
                try fetch(chunk..<chunk + 1, bytes: nil, emit: emit)
            }
            chunk += 1
            if chunk & 0xff == 0 { progress(range.upperBound) }
        }
        progress(index.imageSize)
    }

    /// Fetches the runs from `first` on in one multi-range request: as many
    /// as ``MultiRangeFetcher/maxRanges`` and ``maxRun`` bytes allow.
    private func prefetch(from first: Int, _ multiRange: MultiRangeFetcher) throws(SlotError) {
        var batch: [Range<UInt64>] = []
        var total: UInt64 = 0
        var run = first
        while run < plan.runs.count && batch.count < MultiRangeFetcher.maxRanges {
            let range = plan.index.payloadRange(plan.runs[run])
            if !batch.isEmpty && total + UInt64(range.count) > Self.maxRun { break }
            batch.append(range)
            total += UInt64(range.count)
            run += 1
        }
        let parts = try multiRange.fetch(batch)
        tally.requests += 1
        for (offset, bytes) in parts.enumerated() { prefetched[first + offset] = bytes }
    }

    /// Fetches a run of chunks in one request (unless `bytes` came with a
    /// multi-range request), inflates it against the image bytes before it,
    /// checks every chunk's hash, then hands them on.
    private func fetch(_ run: Range<Int>, bytes: [UInt8]?, emit: (UnsafeRawBufferPointer) throws(SlotError) -> Void) throws(SlotError) {
        let index = plan.index
        let payload = index.payloadRange(run)
        let received = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(payload.count), alignment: 16)
        defer { received.deallocate() }
        if let bytes {
            guard bytes.count == received.count else { throw SlotError(.network, "the payload server sent \(bytes.count) bytes for a range of \(payload.count)") }
            received.copyBytes(from: bytes)
        } else {
            var filled = 0
            try downloader.run(range: payload, consume: { (bytes) throws(SlotError) in
                guard filled + bytes.count <= received.count else {
                    throw SlotError(.sizeMismatch, "the payload server sent more than the \(payload.count) bytes asked for")
                }
                UnsafeMutableRawBufferPointer(rebasing: received[filled..<filled + bytes.count]).copyMemory(from: bytes)
                filled += bytes.count
            }, progress: { _ in })
            guard filled == received.count else {
                throw SlotError(.network, "the payload server sent \(filled) of the \(payload.count) bytes asked for at \(payload.lowerBound)")
            }
            tally.requests += 1
        }
        tally.fetchedPayload += UInt64(payload.count)
        let imageStart = index.imageRange(run.lowerBound).lowerBound
        let imageEnd = index.imageRange(run.upperBound - 1).upperBound
        let image = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(imageEnd - imageStart), alignment: 16)
        defer { image.deallocate() }
        if let inflater {
            let window = min(recentCount, ChunkInflater.window)
            do throws(CodecError) {
                try inflater.inflate(
                    UnsafeRawBufferPointer(received), history: UnsafeRawBufferPointer(rebasing: recent[recentCount - window..<recentCount]), into: image)
            } catch {
                throw SlotError(.badImage, "chunks \(run.lowerBound)..<\(run.upperBound) of the payload do not inflate: \(error.message) (tampered or corrupt payload)", cause: error)
            }
        } else {
            guard image.count == received.count else {
                throw SlotError(.badImage, "chunks \(run.lowerBound)..<\(run.upperBound): \(received.count) payload bytes for \(image.count) image bytes")
            }
            image.copyMemory(from: UnsafeRawBufferPointer(received))
        }
        for chunk in run {
            let range = index.imageRange(chunk)
            let piece = UnsafeRawBufferPointer(rebasing: image[Int(range.lowerBound - imageStart)..<Int(range.upperBound - imageStart)])
            guard ChunkHash(of: piece, blockSize: index.blockSize, digests: &chunkDigests) == index.hash(chunk) else {
                throw SlotError(.badImage, "chunk \(chunk) of the payload (image bytes \(range.lowerBound)..<\(range.upperBound)) does not match the signed chunk index: tampered or corrupt payload")
            }
            tally.fetchedImage += UInt64(range.count)
            try deliver(piece, emit: emit)
        }
    }

    /// Hands on a checked chunk, whose block digests are in ``chunkDigests``.
    private func deliver(_ bytes: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws(SlotError) -> Void) throws(SlotError) {
        try emit(bytes)
        digests.append(contentsOf: chunkDigests)
        // Keep the last window of image bytes for the next run's dictionary.
        // The buffer holds a window more than the largest chunk, so after
        // moving the last window to its start any chunk fits.
        if recentCount + bytes.count > recent.count {
            let keep = min(recentCount, ChunkInflater.window)
            UnsafeMutableRawBufferPointer(rebasing: recent[0..<keep]).copyMemory(from: UnsafeRawBufferPointer(rebasing: recent[recentCount - keep..<recentCount]))
            recentCount = keep
        }
        UnsafeMutableRawBufferPointer(rebasing: recent[recentCount..<recentCount + bytes.count]).copyMemory(from: bytes)
        recentCount += bytes.count
    }
}

/// The block digests of each slot's installed image, kept in the state
/// directory (never in a slot) so the next update need not hash the booted
/// slot. Stored as a `sha256=<image digest>` line, then "SLOTBLK1", u32 block
/// size, u64 image size, u32 count (little-endian), then the digests; a file
/// that describes another image than the slot's record is ignored, and a
/// wrong digest in it only makes the chunk it names fetched instead.
enum InstalledDigests {
    static let magic = Array("SLOTBLK1".utf8)

    static func path(_ slot: SlotName, config: SystemConfig) -> String {
        config.stateDirectory + "/blocks-\(slot.rawValue)"
    }

    static func save(_ digests: [UInt8], blockSize: Int, imageSize: UInt64, sha256: String, slot: SlotName, config: SystemConfig) throws(SlotError) {
        var data = Array("sha256=\(sha256.lowercased())\n".utf8) + magic
        for (value, width) in [(UInt64(blockSize), 4), (imageSize, 8), (UInt64(digests.count / BlockDigests.length), 4)] {
            for i in 0..<width { data.append(UInt8(truncatingIfNeeded: value >> (8 * i))) }
        }
        try FileSystem.writeFileAtomically(path(slot, config: config), data + digests, mode: 0o600)
    }

    static func remove(_ slot: SlotName, config: SystemConfig) {
        try? FileSystem.unlinkIfPresent(path(slot, config: config))
    }

    static func load(_ slot: SlotName, sha256: String, size: UInt64, blockSize: Int, config: SystemConfig) -> [UInt8]? {
        let count = Int((size + UInt64(blockSize) - 1) / UInt64(blockSize))
        let prefix = Array("sha256=\(sha256.lowercased())\n".utf8) + magic
        let header = prefix.count + 16
        guard size < 1 << 50, let bytes = try? FileSystem.readFile(path(slot, config: config), limit: header + count * BlockDigests.length + 1),
            bytes.count == header + count * BlockDigests.length, Array(bytes[0..<prefix.count]) == prefix
        else { return nil }
        func get(_ at: Int, _ width: Int) -> UInt64 {
            (0..<width).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64(bytes[prefix.count + at + $1]) }
        }
        guard get(0, 4) == UInt64(blockSize), get(4, 8) == size, get(12, 4) == UInt64(count) else { return nil }
        return Array(bytes[header...])
    }
}
