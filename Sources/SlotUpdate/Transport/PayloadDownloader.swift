import FoundationEssentials
import Glibc
import SlotCodec
import SlotCore

/// Fetches a payload in order, in `Range` segments, and hands its bytes to a
/// consumer on the calling thread, as libcurl receives them.
///
/// - Segments keep each request short enough that a stalled or broken one
///   costs little, and let a server that limits response sizes serve us.
/// - A broken transfer resumes with `Range` from the last byte consumed;
///   a `206` must start exactly there, a `200` (the server ignores Range)
///   is read from the start with the bytes already consumed skipped, and an
///   `ETag` that changes mid-way is an error.
/// - 4xx gives up at once; 5xx, timeouts and resets are retried with
///   backoff up to ``Options/maxAttempts`` times in a row.
/// - More bytes than announced is an error: a lying server cannot make us
///   write past the payload.
/// - Cancellation is checked on every run of bytes and several times a
///   second while waiting.
public final class PayloadDownloader {
    public struct Options: Sendable {
        public var segmentSize: UInt64 = 32 << 20
        public var maxAttempts = 6
        /// Seconds without a byte before a transfer is given up and retried.
        public var stallTimeout: Double = 30
        public var backoffBase: Double = 0.5
        public var backoffMax: Double = 8
        public init() {}
    }

    public let url: URL
    public let payloadSize: UInt64
    private let options: Options
    private let isCancelled: () -> Bool
    private let client: HTTPClient

    /// Transfer statistics for `SLOTCTL_TRACE`: where the time goes.
    public private(set) var requests = 0
    public private(set) var callbacks = 0
    public private(set) var consumeSeconds = 0.0
    public private(set) var transferSeconds = 0.0
    /// Payload bytes asked for, over all requests (delta updates report it).
    public private(set) var requestedBytes: UInt64 = 0
    /// The ETag seen first: a payload that changes between requests is refused.
    private var etag: String?
    /// Set by a `run(range:)`: a 200 is then an error, not a full download.
    private var partial = false

    public init(url: URL, payloadSize: UInt64, client: HTTPClient, options: Options = Options(), isCancelled: @escaping () -> Bool) {
        self.url = url
        self.payloadSize = payloadSize
        self.client = client
        self.options = options
        self.isCancelled = isCancelled
    }

    /// Downloads everything (or the bytes in `range`: delta updates), calling
    /// `consume` with each run of bytes in order and `progress` with the
    /// payload offset reached. A server that ignores `Range` can serve
    /// everything, not a part: asked for one, it is an error.
    public func run(
        range: Range<UInt64>? = nil,
        consume: (UnsafeRawBufferPointer) throws(SlotError) -> Void, progress: (UInt64) -> Void
    ) throws(SlotError) {
        var offset: UInt64 = range?.lowerBound ?? 0
        let stop = min(payloadSize, range?.upperBound ?? payloadSize)
        partial = range != nil
        var failures = 0
        var rangeIgnored = false
        while offset < stop {
            try checkCancelled()
            let end = rangeIgnored ? payloadSize : min(stop, offset + options.segmentSize)
            var segment = Segment(offset: offset, end: end, payloadSize: payloadSize)
            let failure = transfer(&segment, etag: &etag, consume: consume, progress: progress)
            requestedBytes += end - offset
            if segment.rangeIgnored { rangeIgnored = true }
            if segment.consumed > 0 { failures = 0 }
            offset += segment.consumed
            switch failure {
            case nil where segment.consumed == 0 && offset < stop:
                failures += 1
                try giveUpOrWait(failures, offset, "the server sent no bytes")
            case nil:
                break
            case .refused(let error)?:
                throw error
            case .transport(let message, let retryable)?:
                guard retryable else {
                    throw SlotError(.network, "download of \(url.absoluteString) failed at byte \(offset) of \(payloadSize): \(message)")
                }
                // Bytes arrived before it broke: resume from there at once.
                if segment.consumed == 0 {
                    failures += 1
                    try giveUpOrWait(failures, offset, message)
                }
            }
        }
    }

    private func giveUpOrWait(_ failures: Int, _ offset: UInt64, _ reason: String) throws(SlotError) {
        if failures >= options.maxAttempts {
            throw SlotError(.network, "download of \(url.absoluteString) failed \(failures) times in a row at byte \(offset) of \(payloadSize): \(reason)")
        }
        try sleepInterruptibly(backoff(failures))
    }

    /// One request for [offset, end): what it consumed, and how it ended.
    struct Segment {
        let offset: UInt64
        let end: UInt64
        let payloadSize: UInt64
        var consumed: UInt64 = 0
        /// A 200: the whole payload from byte 0.
        var rangeIgnored = false
        /// Bytes of a 200 body we already have.
        var skip: UInt64 = 0
        /// Why the server's answer is worth asking again (a 5xx).
        var retry: String?

        var limit: UInt64 { rangeIgnored ? payloadSize - offset : end - offset }
    }

    private func transfer(
        _ segment: inout Segment, etag: inout String?,
        consume: (UnsafeRawBufferPointer) throws(SlotError) -> Void, progress: (UInt64) -> Void
    ) -> HTTPClient.Failure? {
        requests += 1
        let request = HTTPClient.Request(.get, url.absoluteString, headers: ["Range: bytes=\(segment.offset)-\(segment.end - 1)"], stallTimeout: options.stallTimeout)
        let started = ContinuousClock.now
        defer { transferSeconds += (ContinuousClock.now - started).inSeconds }
        do throws(HTTPClient.Failure) {
            try client.perform(request, isCancelled: isCancelled) { (head) throws(SlotError) in
                guard let whole = try check(head, offset: segment.offset, etag: &etag) else {
                    segment.retry = "HTTP \(head.status)"
                    throw SlotError(.network, "HTTP \(head.status)")
                }
                segment.rangeIgnored = whole
                if whole { segment.skip = segment.offset }
            } body: { (received) throws(SlotError) in
                callbacks += 1
                var bytes = received
                if segment.skip > 0 {
                    let dropped = min(UInt64(bytes.count), segment.skip)
                    bytes = UnsafeRawBufferPointer(rebasing: bytes.dropFirst(Int(dropped)))
                    segment.skip -= dropped
                    if bytes.isEmpty { return }
                }
                if segment.consumed + UInt64(bytes.count) > segment.limit {
                    throw SlotError(.sizeMismatch, "the server sent more than the \(payloadSize) bytes the release announced")
                }
                let consumeStart = ContinuousClock.now
                try consume(bytes)
                consumeSeconds += (ContinuousClock.now - consumeStart).inSeconds
                segment.consumed += UInt64(bytes.count)
                progress(segment.offset + segment.consumed)
                try checkCancelled()
            }
        } catch {
            if let reason = segment.retry { return .transport(message: reason, retryable: true) }
            return error
        }
        return nil
    }

    /// Validates the response head; true when the server ignored Range and
    /// sends the whole payload (200), nil for a status worth retrying (5xx).
    private func check(_ head: HTTPClient.Head, offset: UInt64, etag: inout String?) throws(SlotError) -> Bool? {
        if let tag = head.value("ETag") {
            if let known = etag, known != tag {
                throw SlotError(.badImage, "the payload changed on the server during the download (ETag \(known) became \(tag))")
            }
            etag = tag
        }
        switch head.status {
        case 206:
            guard let range = head.value("Content-Range"), let parsed = Self.parseContentRange(range), parsed.start == offset else {
                throw SlotError(.network, "the server answered a Range request for byte \(offset) with a wrong Content-Range: \(head.value("Content-Range") ?? "none")")
            }
            if let total = parsed.total, total != payloadSize {
                throw SlotError(.sizeMismatch, "the payload on the server has \(total) bytes, the release says \(payloadSize)")
            }
            return false
        case 200:
            if partial {
                throw SlotError(.network, "the payload server ignored a Range request for byte \(offset) (HTTP 200)")
            }
            if let length = head.value("Content-Length").flatMap(UInt64.init), length != payloadSize {
                throw SlotError(.sizeMismatch, "the payload on the server has \(length) bytes, the release says \(payloadSize)")
            }
            return true
        case 400..<500:
            throw SlotError(.network, "the payload server answered HTTP \(head.status) for \(url.absoluteString)")
        default:
            return nil
        }
    }

    /// `bytes START-END/TOTAL` (TOTAL may be `*`).
    static func parseContentRange(_ text: String) -> (start: UInt64, end: UInt64, total: UInt64?)? {
        let trimmed = text.trimmingWhitespace()
        guard trimmed.hasPrefix("bytes ") else { return nil }
        let parts = trimmed.dropFirst(6).split(separator: "/")
        guard parts.count == 2 else { return nil }
        let bounds = parts[0].split(separator: "-")
        guard bounds.count == 2, let start = UInt64(bounds[0]), let end = UInt64(bounds[1]), end >= start else { return nil }
        return (start, end, parts[1] == "*" ? nil : UInt64(parts[1]))
    }

    private func backoff(_ failures: Int) -> Double {
        let base = min(options.backoffMax, options.backoffBase * pow(2, Double(failures - 1)))
        return base * Double.random(in: 0.5...1.0)
    }

    private func sleepInterruptibly(_ seconds: Double) throws(SlotError) {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            try checkCancelled()
            usleep(50_000)
        }
    }

    private func checkCancelled() throws(SlotError) {
        if isCancelled() { throw SlotError(.cancelled, "update cancelled") }
    }
}
