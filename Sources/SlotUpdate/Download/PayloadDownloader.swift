import Foundation
import FoundationNetworking
import SlotCore

/// Fetches a payload over URLSession in order, in `Range` segments, and
/// hands its bytes to a consumer on the calling thread.
///
/// - Segments bound memory: URLSession on Linux buffers without limit when
///   the consumer is slower than the network, so at most one segment is in
///   flight.
/// - A broken transfer resumes with `Range` from the last byte consumed;
///   a `206` must start exactly there, a `200` (the server ignores Range)
///   is read from the start with the bytes already consumed skipped, and an
///   `ETag` that changes mid-way is an error.
/// - 4xx gives up at once; 5xx, timeouts and resets are retried with
///   backoff up to ``Options/maxAttempts`` times in a row.
/// - More bytes than announced is an error: a lying server cannot make us
///   write past the payload.
/// - Cancellation is checked between batches and while waiting, and does not
///   rely on `URLSessionTask.cancel()` taking effect.
public final class PayloadDownloader: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // `channels` is guarded by `lock`; everything else is set in init or
    // used only by the thread that called `run`.
    public struct Options: Sendable {
        public var segmentSize: UInt64 = 32 << 20
        public var maxAttempts = 6
        /// Seconds without a byte before a transfer is given up and retried.
        public var stallTimeout: TimeInterval = 30
        public var backoffBase: TimeInterval = 0.5
        public var backoffMax: TimeInterval = 8
        public init() {}
    }

    public let url: URL
    public let payloadSize: UInt64
    private let options: Options
    private let isCancelled: @Sendable () -> Bool
    private let lock = NSLock()
    private var channels: [Int: ChunkChannel] = [:]
    private var session: URLSession!

    /// Transfer statistics for `SLOTCTL_TRACE`: where the time goes.
    public private(set) var requests = 0
    public private(set) var callbacks = 0
    public private(set) var consumeSeconds = 0.0
    public private(set) var waitSeconds = 0.0

    public init(url: URL, payloadSize: UInt64, options: Options = Options(), isCancelled: @escaping @Sendable () -> Bool) {
        self.url = url
        self.payloadSize = payloadSize
        self.options = options
        self.isCancelled = isCancelled
        super.init()
        let configuration = URLSessionConfiguration.ephemeral
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.timeoutIntervalForRequest = options.stallTimeout
        configuration.httpMaximumConnectionsPerHost = 1
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        session = URLSession(configuration: configuration, delegate: self, delegateQueue: queue)
    }

    deinit { session?.invalidateAndCancel() }

    /// Downloads everything, calling `consume` with each run of bytes in
    /// order and `progress` with the bytes consumed so far.
    public func run(
        consume: (UnsafeRawBufferPointer) throws(SlotError) -> Void, progress: (UInt64) -> Void
    ) throws(SlotError) {
        var offset: UInt64 = 0
        var failures = 0
        var etag: String?
        var rangeIgnored = false
        while offset < payloadSize {
            try checkCancelled()
            let end = rangeIgnored ? payloadSize : min(payloadSize, offset + options.segmentSize)
            do throws(TransferProblem) {
                let result = try transfer(from: offset, to: end, etag: &etag, consume: consume, progress: progress)
                if result.rangeIgnored { rangeIgnored = true }
                if result.consumed > 0 { failures = 0 }
                offset += result.consumed
                if result.consumed == 0 && offset < payloadSize {
                    throw TransferProblem.retryable("the server sent no bytes")
                }
            } catch {
                switch error {
                case .fatal(let error): throw error
                case .retryable(let reason):
                    failures += 1
                    if failures >= options.maxAttempts {
                        throw SlotError(.network, "download of \(url.absoluteString) failed \(failures) times in a row at byte \(offset) of \(payloadSize): \(reason)")
                    }
                    try sleepInterruptibly(backoff(failures))
                }
            }
        }
    }

    enum TransferProblem: Error {
        case retryable(String)
        case fatal(SlotError)
    }

    struct TransferResult {
        var consumed: UInt64
        var rangeIgnored: Bool
    }

    /// One request for [offset, end); returns how many bytes were consumed.
    private func transfer(
        from offset: UInt64, to end: UInt64, etag: inout String?,
        consume: (UnsafeRawBufferPointer) throws(SlotError) -> Void, progress: (UInt64) -> Void
    ) throws(TransferProblem) -> TransferResult {
        var request = URLRequest(url: url)
        request.cachePolicy = .reloadIgnoringLocalCacheData
        request.setValue("bytes=\(offset)-\(end - 1)", forHTTPHeaderField: "Range")
        let channel = ChunkChannel()
        let task = session.dataTask(with: request)
        lock.withLock { channels[task.taskIdentifier] = channel }
        requests += 1
        defer {
            channel.close()
            task.cancel()
            lock.withLock { _ = channels.removeValue(forKey: task.taskIdentifier) }
        }
        task.resume()

        var consumed: UInt64 = 0
        var skip: UInt64 = 0  // bytes of a 200 body we already have
        var rangeIgnored = false
        var sawResponse = false
        var lastByte = Date()
        while true {
            if isCancelled() { throw .fatal(SlotError(.cancelled, "update cancelled")) }
            let waitStart = Clock.now()
            let received = channel.receive(until: Date().addingTimeInterval(0.2))
            waitSeconds += Clock.now() - waitStart
            switch received {
            case .closed:
                throw .retryable("transfer closed")
            case .timedOut:
                if Date().timeIntervalSince(lastByte) > options.stallTimeout {
                    throw .retryable("no data for \(Int(options.stallTimeout)) s")
                }
            case .items(let items):
                for item in items {
                    switch item {
                    case .response(let response):
                        sawResponse = true
                        // A 200 is the whole payload from byte 0: skip what we have.
                        rangeIgnored = try check(response, offset: offset, etag: &etag)
                        if rangeIgnored { skip = offset }
                    case .data(let data):
                        guard sawResponse else { continue }
                        lastByte = Date()
                        callbacks += 1
                        var bytes = data[...]
                        if skip > 0 {
                            let dropped = min(UInt64(bytes.count), skip)
                            bytes = bytes.dropFirst(Int(dropped))
                            skip -= dropped
                            if bytes.isEmpty { continue }
                        }
                        let limit = rangeIgnored ? payloadSize - offset : end - offset
                        if consumed + UInt64(bytes.count) > limit {
                            throw .fatal(SlotError(.sizeMismatch, "the server sent more than the \(payloadSize) bytes the release announced"))
                        }
                        let consumeStart = Clock.now()
                        do {
                            try bytes.withUnsafeBytes { buffer in
                                try Self.typed { () throws(SlotError) in try consume(buffer) }
                            }
                        } catch let error as SlotError {
                            throw .fatal(error)
                        } catch {
                            throw .fatal(SlotError(.io, "\(error)"))
                        }
                        consumeSeconds += Clock.now() - consumeStart
                        consumed += UInt64(bytes.count)
                        progress(offset + consumed)
                        if isCancelled() { throw .fatal(SlotError(.cancelled, "update cancelled")) }
                    case .finished(let error):
                        if let error {
                            if consumed > 0 {
                                return TransferResult(consumed: consumed, rangeIgnored: rangeIgnored)  // resume from here
                            }
                            throw .retryable(SendableDescription(error).description)
                        }
                        let expected = rangeIgnored ? payloadSize - offset : end - offset
                        if consumed < expected && consumed == 0 {
                            throw .retryable("the response ended after \(consumed) of \(expected) bytes")
                        }
                        return TransferResult(consumed: consumed, rangeIgnored: rangeIgnored)
                    }
                }
            }
        }
    }

    /// Validates the response head; returns true when the server ignored
    /// Range and sends the whole payload (200).
    private func check(_ response: HTTPURLResponse, offset: UInt64, etag: inout String?) throws(TransferProblem) -> Bool {
        let status = response.statusCode
        if let tag = response.value(forHTTPHeaderField: "ETag") {
            if let known = etag, known != tag {
                throw .fatal(SlotError(.badImage, "the payload changed on the server during the download (ETag \(known) became \(tag))"))
            }
            etag = tag
        }
        switch status {
        case 206:
            guard let range = response.value(forHTTPHeaderField: "Content-Range"),
                let parsed = Self.parseContentRange(range), parsed.start == offset
            else {
                throw .fatal(SlotError(.network, "the server answered a Range request for byte \(offset) with a wrong Content-Range: \(response.value(forHTTPHeaderField: "Content-Range") ?? "none")"))
            }
            if let total = parsed.total, total != payloadSize {
                throw .fatal(SlotError(.sizeMismatch, "the payload on the server has \(total) bytes, the release says \(payloadSize)"))
            }
            return false
        case 200:
            if let length = response.value(forHTTPHeaderField: "Content-Length").flatMap(UInt64.init), length != payloadSize {
                throw .fatal(SlotError(.sizeMismatch, "the payload on the server has \(length) bytes, the release says \(payloadSize)"))
            }
            return true
        case 400..<500:
            throw .fatal(SlotError(.network, "the payload server answered HTTP \(status) for \(url.absoluteString)"))
        default:
            throw .retryable("HTTP \(status)")
        }
    }

    /// `bytes START-END/TOTAL` (TOTAL may be `*`).
    static func parseContentRange(_ text: String) -> (start: UInt64, end: UInt64, total: UInt64?)? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("bytes ") else { return nil }
        let parts = trimmed.dropFirst(6).split(separator: "/")
        guard parts.count == 2 else { return nil }
        let bounds = parts[0].split(separator: "-")
        guard bounds.count == 2, let start = UInt64(bounds[0]), let end = UInt64(bounds[1]), end >= start else { return nil }
        return (start, end, parts[1] == "*" ? nil : UInt64(parts[1]))
    }

    private func backoff(_ failures: Int) -> TimeInterval {
        let base = min(options.backoffMax, options.backoffBase * pow(2, Double(failures - 1)))
        return base * Double.random(in: 0.5...1.0)
    }

    private func sleepInterruptibly(_ seconds: TimeInterval) throws(SlotError) {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            try checkCancelled()
            Thread.sleep(forTimeInterval: min(0.05, max(0, deadline.timeIntervalSinceNow)))
        }
    }

    private func checkCancelled() throws(SlotError) {
        if isCancelled() { throw SlotError(.cancelled, "update cancelled") }
    }

    private static func typed(_ body: () throws(SlotError) -> Void) throws {
        try body()
    }

    // MARK: - URLSessionDataDelegate (on the session's serial queue)

    private func channel(for task: URLSessionTask) -> ChunkChannel? {
        lock.withLock { channels[task.taskIdentifier] }
    }

    public func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
    ) {
        if let http = response as? HTTPURLResponse { channel(for: dataTask)?.send(.response(http)) }
        completionHandler(.allow)
    }

    public func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        channel(for: dataTask)?.send(.data(data))
    }

    public func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        channel(for: task)?.send(.finished(error))
    }
}
