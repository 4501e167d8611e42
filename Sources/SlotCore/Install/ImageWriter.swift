import SlotCodec
import CSlotSys
import Glibc
import Synchronization

/// Streams an image into an ``ImageDestination`` and proves it landed.
///
/// Three stages overlap so the slowest one (usually the medium) sets the pace:
///
/// 1. the caller's thread fills page-aligned buffers (from a file, stdin, a
///    gzip inflater or the network) and computes CRC-32 and SHA-256 as the
///    bytes go by, refusing anything beyond the slot's capacity;
/// 2. a writer thread writes each buffer at its offset with large aligned
///    writes and starts writeback every window;
/// 3. a verifier thread waits until each window reached the device, drops it
///    from the page cache and reads it back (O_DIRECT where possible),
///    computing the CRC-32 of what the medium returns.
///
/// ``finish()`` fsyncs, then compares the read-back CRC with the streamed
/// one. Any failure stops all stages and surfaces the first error.
public final class ImageWriter: @unchecked Sendable {
    // Shared between threads only through the queues and the `failure` and
    // `verified` mutexes; everything else is owned by the caller's thread.
    public struct Options: Sendable {
        public var chunkSize = 4 << 20
        public var bufferCount = 4
        /// Bytes written before a window is handed to the verifier.
        /// Small enough that reading back overlaps writing, large enough
        /// that each read-back request is big (16 MiB measured best here).
        public var verifyWindow: UInt64 = 16 << 20
        /// When known, a hard cap: one byte more is an error (a lying server).
        public var expectedSize: UInt64?
        /// Set to compute SHA-256 as well (see ``StreamingSHA256``).
        public var sha256: SHA256Factory?
        public init() {}
    }

    public struct Result: Sendable {
        public var size: UInt64
        public var crc32: UInt32
        public var sha256: String?
    }

    private struct Chunk: Sendable {
        var buffer: AlignedBuffer
        var offset: UInt64
    }

    private struct Window: Sendable {
        var offset: UInt64
        var length: UInt64
    }

    public let destination: ImageDestination
    private let options: Options
    private var digest: ImageDigest
    private var current: AlignedBuffer?
    private var offset: UInt64 = 0
    private let freeBuffers: BlockingQueue<AlignedBuffer>
    private let writeQueue: BlockingQueue<Chunk>
    private let verifyQueue: BlockingQueue<Window>
    private let failure = Mutex<SlotError?>(nil)
    private let verified = Mutex<(offset: UInt64, crc: CRC32)>((0, CRC32()))
    private var allBuffers: [AlignedBuffer] = []
    private var writer: WorkerThread?
    private var verifier: WorkerThread?
    private var finished = false
    /// Seconds each stage spent, for `SLOTCTL_TRACE=1` (where the time goes).
    private let timings = Mutex(StageTimings())

    public struct StageTimings: Sendable, CustomStringConvertible {
        public var producerWaiting = 0.0
        public var hashing = 0.0
        public var writing = 0.0
        public var syncing = 0.0
        public var reading = 0.0
        public var verifyHashing = 0.0
        public var finalSync = 0.0
        public var description: String {
            func f(_ value: Double) -> String { String(Int((value * 1000).rounded())) + " ms" }
            return "producer waiting \(f(producerWaiting)), hashing \(f(hashing)); writer write \(f(writing)); verifier sync-wait \(f(syncing)), read \(f(reading)), crc \(f(verifyHashing)); final fsync \(f(finalSync))"
        }
    }

    public var stageTimings: StageTimings { timings.withLock { $0 } }

    public init(destination: ImageDestination, options: Options = Options()) {
        self.destination = destination
        self.options = options
        digest = ImageDigest(sha256: options.sha256?())
        freeBuffers = BlockingQueue(capacity: options.bufferCount)
        writeQueue = BlockingQueue(capacity: options.bufferCount)
        verifyQueue = BlockingQueue(capacity: 1 << 16)
        for _ in 0..<options.bufferCount {
            let buffer = AlignedBuffer(capacity: options.chunkSize)
            allBuffers.append(buffer)
            freeBuffers.push(buffer)
        }
        writer = WorkerThread { [self] in runWriter() }
        verifier = WorkerThread { [self] in runVerifier() }
    }

    deinit {
        if !finished { abort() }
        for buffer in allBuffers { buffer.free() }
    }

    /// Appends image bytes, copying them into the pipeline.
    public func append(_ bytes: UnsafeRawBufferPointer) throws(SlotError) {
        var rest = bytes
        while !rest.isEmpty {
            var buffer = try currentBuffer()
            let n = min(rest.count, buffer.capacity - buffer.count)
            buffer.spare.baseAddress!.copyMemory(from: rest.baseAddress!, byteCount: n)
            buffer.count += n
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            current = buffer
            if buffer.count == buffer.capacity { try submitCurrent() }
        }
    }

    /// Lets `read` fill pipeline memory directly (no copy): it gets free space
    /// and returns how many bytes it put there, 0 at the end of the input.
    /// Returns false at the end of the input.
    public func fill(_ read: (UnsafeMutableRawBufferPointer) throws(SlotError) -> Int) throws(SlotError) -> Bool {
        var buffer = try currentBuffer()
        let n = try read(buffer.spare)
        if n == 0 { return false }
        buffer.count += n
        current = buffer
        if buffer.count == buffer.capacity { try submitCurrent() }
        return true
    }

    /// Flushes what is pending, waits for every stage, fsyncs, and compares.
    public func finish() throws(SlotError) -> Result {
        if current != nil, current!.count > 0 {
            try submitCurrent()
        } else if let buffer = current {
            freeBuffers.push(buffer)
            current = nil
        }
        writeQueue.close()
        writer?.join()
        verifier?.join()
        writer = nil
        verifier = nil
        finished = true
        if let error = failure.withLock({ $0 }) {
            destination.discard()
            throw error
        }
        let syncStart = Clock.now()
        do {
            try destination.descriptor.sync()
        } catch {
            destination.discard()
            throw error
        }
        timings.withLock { $0.finalSync += Clock.now() - syncStart }
        let (verifiedOffset, readBack) = verified.withLock { ($0.offset, $0.crc) }
        let size = digest.count
        guard verifiedOffset == size, readBack.value == digest.crc.value else {
            destination.discard()
            throw SlotError(
                .readBackMismatch,
                "read-back from '\(destination.path)' does not match what was written: \(verifiedOffset) of \(size) bytes verified, CRC \(readBack.hex) read back, \(digest.crc.hex) written")
        }
        return Result(size: size, crc32: digest.crc.value, sha256: digest.sha256Hex())
    }

    /// Stops every stage and throws nothing away except the half-written
    /// image (a directory slot's temp file is removed).
    public func abort() {
        fail(SlotError(.cancelled, "install aborted"))
        writer?.join()
        verifier?.join()
        writer = nil
        verifier = nil
        current = nil  // every buffer is freed in deinit, wherever it is
        finished = true
        destination.discard()
    }

    // MARK: - Producer side (caller's thread)

    private func currentBuffer() throws(SlotError) -> AlignedBuffer {
        if let current { return current }
        let waitStart = Clock.now()
        guard let buffer = freeBuffers.pop() else { throw firstFailure() }
        timings.withLock { $0.producerWaiting += Clock.now() - waitStart }
        var fresh = buffer
        fresh.count = 0
        current = fresh
        return fresh
    }

    private func submitCurrent() throws(SlotError) {
        guard let buffer = current else { return }
        current = nil
        let end = offset + UInt64(buffer.count)
        if end > destination.capacity {
            freeBuffers.push(buffer)
            let error = SlotError(.imageTooLarge, "the image is larger than the slot: more than \(destination.capacity) bytes do not fit in '\(destination.path)'")
            fail(error)
            throw error
        }
        if let expected = options.expectedSize, end > expected {
            freeBuffers.push(buffer)
            let error = SlotError(.sizeMismatch, "the image is larger than its manifest says: more than \(expected) bytes")
            fail(error)
            throw error
        }
        let hashStart = Clock.now()
        digest.update(buffer.filled)
        timings.withLock { $0.hashing += Clock.now() - hashStart }
        guard writeQueue.push(Chunk(buffer: buffer, offset: offset)) else { throw firstFailure() }
        offset = end
    }

    private func fail(_ error: SlotError) {
        failure.withLock { if $0 == nil { $0 = error } }
        writeQueue.close()
        verifyQueue.close()
        freeBuffers.close()
    }

    private func firstFailure() -> SlotError {
        failure.withLock { $0 } ?? SlotError(.cancelled, "install aborted")
    }

    private var hasFailed: Bool { failure.withLock { $0 != nil } }

    // MARK: - Writer thread

    private func runWriter() {
        let fd = destination.descriptor
        var direct = destination.openForDirectWrite()
        defer { direct?.close() }
        var windowStart: UInt64 = 0
        var windowEnd: UInt64 = 0
        while let chunk = writeQueue.pop() {
            if hasFailed { break }
            let writeStart = Clock.now()
            do {
                let aligned = chunk.buffer.count % AlignedBuffer.alignment == 0 && chunk.offset % UInt64(AlignedBuffer.alignment) == 0
                if aligned, let directFD = direct {
                    do {
                        try directFD.write(chunk.buffer.filled, at: chunk.offset)
                    } catch where (error.cause as? Errno) == .invalidArgument {
                        // The device wants bigger alignment than a page: go buffered.
                        directFD.close()
                        direct = nil
                        try fd.write(chunk.buffer.filled, at: chunk.offset)
                    }
                } else {
                    try fd.write(chunk.buffer.filled, at: chunk.offset)
                }
                FailPoint.hit("install-chunk-written")
            } catch {
                fail(SlotError(.io, "cannot write slot '\(destination.path)' at offset \(chunk.offset)", cause: error.cause))
                break
            }
            timings.withLock { $0.writing += Clock.now() - writeStart }
            windowEnd = chunk.offset + UInt64(chunk.buffer.count)
            freeBuffers.push(chunk.buffer)
            if windowEnd - windowStart >= options.verifyWindow {
                if direct == nil {
                    _ = slotsys_sync_range(fd.rawValue, Int64(windowStart), Int64(windowEnd - windowStart), 0)
                }
                verifyQueue.push(Window(offset: windowStart, length: windowEnd - windowStart))
                windowStart = windowEnd
            }
        }
        if !hasFailed && windowEnd > windowStart {
            verifyQueue.push(Window(offset: windowStart, length: windowEnd - windowStart))
        }
        verifyQueue.close()
    }

    // MARK: - Verifier thread

    private func runVerifier() {
        guard var (reader, direct) = destination.openForReadBack() else {
            fail(SlotError(.io, "cannot open '\(destination.path)' to read it back"))
            return
        }
        defer { reader.close() }
        let buffer = AlignedBuffer(capacity: 8 << 20)
        defer { buffer.free() }
        let writeFD = destination.descriptor
        var crc = CRC32()

        while let window = verifyQueue.pop() {
            if hasFailed { return }
            // Make the window durable on the device, then forget the cached copy.
            let syncStart = Clock.now()
            if slotsys_sync_range(writeFD.rawValue, Int64(window.offset), Int64(window.length), 1) != 0 {
                do { try writeFD.sync() } catch {
                    fail(SlotError(.io, "cannot flush slot '\(destination.path)'", cause: error.cause))
                    return
                }
            }
            writeFD.dropCache(offset: window.offset, length: window.length)
            reader.dropCache(offset: window.offset, length: window.length)
            timings.withLock { $0.syncing += Clock.now() - syncStart }

            var position = window.offset
            let end = window.offset + window.length
            while position < end {
                let wanted = Int(min(UInt64(buffer.capacity), end - position))
                // O_DIRECT wants whole aligned blocks; read up to the next one.
                let request = direct ? (wanted + AlignedBuffer.alignment - 1) / AlignedBuffer.alignment * AlignedBuffer.alignment : wanted
                let got: Int
                let readStart = Clock.now()
                do {
                    got = try reader.readFully(into: UnsafeMutableRawBufferPointer(start: buffer.base, count: request), at: position)
                } catch {
                    if direct, let errno = error.cause as? Errno, errno == .invalidArgument,
                        let buffered = try? FileDescriptor.open(destination.path, .readOnly)
                    {
                        // This file system refuses O_DIRECT here: read through the
                        // (already dropped) page cache instead.
                        reader.close()
                        reader = buffered
                        direct = false
                        continue
                    }
                    fail(SlotError(.io, "cannot read back slot '\(destination.path)' at offset \(position)", cause: error.cause))
                    return
                }
                guard got >= wanted else {
                    fail(SlotError(.readBackMismatch, "slot '\(destination.path)' ended at offset \(position + UInt64(got)) while reading it back"))
                    return
                }
                let crcStart = Clock.now()
                crc.update(UnsafeRawBufferPointer(start: buffer.base, count: wanted))
                let crcEnd = Clock.now()
                timings.withLock {
                    $0.reading += crcStart - readStart
                    $0.verifyHashing += crcEnd - crcStart
                }
                position += UInt64(wanted)
                verified.withLock { $0 = (position, crc) }
            }
        }
    }
}
