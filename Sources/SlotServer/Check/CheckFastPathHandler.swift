import NIOCore
import SlotWire
import NIOHTTP1
import NIOHTTPTypes
import Prometheus

/// Answers `POST /v1/check` right where the connection's bytes arrive, on the
/// event loop: no HTTP codec objects, no hops into Swift Concurrency, the
/// answer written as one buffer. This is the hot path of a fleet server; NIO's
/// HTTP codec alone costs more than the rest of a check does.
///
/// It sits in front of NIO's HTTP/1 codec (behind TLS when there is TLS). It
/// answers only what ``CheckRequestHead`` reads as a plain check (a strict
/// subset of HTTP/1.1, framed exactly as the full parser frames it), with a
/// body that decodes and validates and a device that authenticates here.
/// A request split across reads is kept until it is whole. At the first
/// request it does not answer, the connection becomes an ordinary one: that
/// request's bytes and everything after them go to the codec and Hummingbird
/// unchanged, which answer them (errors included) as they always would, so
/// answers never overtake or reorder each other.
///
/// It also keeps the connection's idle timeout, since the checks it answers
/// never reach Hummingbird's own connection state handler.
final class CheckFastPathHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private let answerer: CheckAnswerer
    private let limit: Int
    private let idleTimeout: TimeAmount?
    /// False once a request went to the codec: everything after it does too.
    private var answering = true
    /// The start of a request that has not fully arrived.
    private var partial: ByteBuffer?
    /// The peer's IP address, the per-address rate-limit key.
    private var peer: String?
    private var lastActivity = NIODeadline.now()
    /// Whether the last thing on the connection was a request's bytes arriving
    /// (the server owes an answer) rather than an answer leaving.
    private var lastWasRead = false
    private var idleCheck: Scheduled<Void>?
    /// A read asked for while answers waited to drain.
    private var readHeld = false
    /// The releases of the track this connection's checks asked for last.
    private var track: ReleaseCatalog.TrackReader

    init(answerer: CheckAnswerer, limit: Int, idleTimeout: TimeAmount?) {
        self.answerer = answerer
        self.track = ReleaseCatalog.TrackReader(answerer.state.catalog)
        self.limit = limit
        self.idleTimeout = idleTimeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActivity = .now()
        lastWasRead = true
        guard answering else {
            context.fireChannelRead(data)
            return
        }
        var input = unwrapInboundIn(data)
        if var partial {
            partial.writeBuffer(&input)
            input = partial
            self.partial = nil
        }
        var answered = false
        while input.readableBytes > 0 {
            let framing = input.withUnsafeReadableBytes { CheckRequestHead.parse($0, maxBody: limit) }
            guard case .complete(let head) = framing else {
                if case .incomplete = framing {
                    partial = input
                } else {
                    handOver(input, context: context)
                }
                break
            }
            let body = input.getSlice(at: input.readerIndex + head.headLength, length: head.bodyLength)!
            guard answer(head, body: body, context: context) else {
                handOver(input, context: context)
                break
            }
            answered = true
            input.moveReaderIndex(forwardBy: head.headLength + head.bodyLength)
        }
        if answered {
            lastWasRead = partial != nil
            context.flush()
        }
    }

    /// Answers one check, or returns false to leave it to Hummingbird (which
    /// answers any refusal with its JSON error and counts nothing).
    private func answer(_ head: CheckRequestHead, body: ByteBuffer, context: ChannelHandlerContext) -> Bool {
        let start = ContinuousClock.now
        do throws(ServerError) {
            let check = try answerer.decode(body)
            // A trial admission needs the store: the route authenticates and asks.
            let releases = track.releases(channel: check.channel, compatible: check.compatible)
            guard case .release(let chosen) = answerer.choice(check, among: releases) else { return false }
            if peer == nil { peer = context.channel.remoteAddress?.ipAddress }  // once per connection
            if case .unknown = try answerer.authenticate(check, credentials: DeviceCredentials(head), body: body, peer: peer) {
                // A genuine session from another replica: the route asks the store.
                // It takes a second per-address token, so such a check counts twice.
                return false
            }
            try answerer.limitDevice(check)
            let response = try response(offering: chosen, host: head.host, allocator: context.channel.allocator)
            answerer.record(check, chosen: chosen, counter: response.counter)
            context.write(wrapOutboundOut(.byteBuffer(response.bytes)), promise: nil)
            answerer.state.metrics.observeFastCheck(answered: chosen != nil, duration: ContinuousClock.now - start)
            return true
        } catch where error.code == .rateLimited || error.status == .unauthorized {
            // Under a flood the refusal must stay as cheap as an answer; and a
            // request that used up its time must not be judged a second time.
            write(error, context: context)
            return true
        } catch {
            return false
        }
    }

    /// The request at the start of `input` and all that follows go to the codec.
    private func handOver(_ input: ByteBuffer, context: ChannelHandlerContext) {
        answering = false
        if readHeld {
            readHeld = false
            context.read()
        }
        context.flush()
        context.fireChannelRead(wrapInboundOut(input))
    }

    /// Whole answers as this connection sent them in the current second, by
    /// release ("" for the 204): a check whose answer was sent before costs
    /// no formatting and no copy. Made again when the second (the `Date`), the
    /// freshness statement or the Host (the payload URL) changes.
    private var responses: [Response] = []
    private var responsesFor: (second: Int, freshness: UInt64, host: String?)?

    private struct Response {
        var release: String
        var bytes: ByteBuffer
        /// The release's answer counter (``ServerMetrics/answerCounter(releaseId:)``).
        var counter: Counter
    }

    /// A 200 that offers `release`, or a 204: status line, fields and body in one buffer.
    private func response(offering release: ReleaseRecord?, host: String?, allocator: ByteBufferAllocator) throws(ServerError) -> Response {
        let second = HTTPDate.second
        let renewal = answerer.state.catalog.freshness?.renewals ?? 0
        if responsesFor?.second != second || responsesFor?.freshness != renewal || responsesFor?.host != host {
            responses.removeAll(keepingCapacity: true)
            responsesFor = (second, renewal, host)
        }
        let key = release?.id ?? ""
        if let made = responses.first(where: { $0.release == key }) { return made }
        var out = allocator.buffer(capacity: 1024)
        out.writeStaticString(release == nil ? "HTTP/1.1 204 No Content\r\n" : "HTTP/1.1 200 OK\r\n")
        out.writeString("Date: \(HTTPDate.now)\r\nServer: slot-server\r\n")
        if let freshness = answerer.freshness { out.writeString("\(FreshnessStatement.headerName): \(freshness)\r\n") }
        if let release {
            var body = try answerer.body(for: release, authority: host)
            out.writeString("Content-Type: application/json\r\nContent-Length: \(body.readableBytes)\r\n\r\n")
            out.writeBuffer(&body)
        } else {
            out.writeStaticString("\r\n")
        }
        // Bounded: a connection sees a handful of releases.
        if responses.count >= 8 { responses.removeAll(keepingCapacity: true) }
        let made = Response(release: key, bytes: out, counter: answerer.state.metrics.answerCounter(releaseId: release?.id))
        responses.append(made)
        return made
    }

    /// A refusal (401, 429) with the fields and body Hummingbird's error
    /// middleware gives it (``ServerError/answer``), in one buffer.
    private func write(_ error: ServerError, context: ChannelHandlerContext) {
        let (fields, body) = error.answer
        var out = context.channel.allocator.buffer(capacity: 256 + body.count)
        out.writeString("HTTP/1.1 \(error.status.code) \(error.status.reasonPhrase)\r\nDate: \(HTTPDate.now)\r\nServer: slot-server\r\n")
        for field in fields { out.writeString("\(field.name.rawName): \(field.value)\r\n") }
        out.writeString("Content-Length: \(body.count)\r\n\r\n")
        out.writeBytes(body)
        context.write(wrapOutboundOut(.byteBuffer(out)), promise: nil)
    }

    /// Nothing behind this handler has read anything while it answers, so
    /// the read-complete stops here, and the next read is asked for from here:
    /// NIO then skips sending its own through every handler behind this one.
    func channelReadComplete(context: ChannelHandlerContext) {
        guard answering else {
            context.fireChannelReadComplete()
            return
        }
        if context.channel.isWritable { context.read() }
    }

    /// A client that sends checks without reading the answers is not read
    /// from until they drain: answers do not pile up in memory.
    func read(context: ChannelHandlerContext) {
        if answering && !context.channel.isWritable {
            readHeld = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if readHeld && context.channel.isWritable {
            readHeld = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        lastActivity = .now()
        lastWasRead = false
        context.write(data, promise: promise)
    }

    /// A request cut short by the end of the input still goes to the codec, which says what it says about it.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let partial, event as? ChannelEvent == .inputClosed {
            self.partial = nil
            handOver(partial, context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: - Idle timeout

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { scheduleIdleCheck(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        scheduleIdleCheck(context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        idleCheck = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        idleCheck = nil
        context.fireChannelInactive()
    }

    private func scheduleIdleCheck(context: ChannelHandlerContext) {
        guard let idleTimeout, idleCheck == nil else { return }
        let loop = context.eventLoop.assumeIsolated()
        idleCheck = loop.scheduleTask(deadline: lastActivity + idleTimeout) { [self] in
            idleCheck = nil
            let idle = NIODeadline.now() - lastActivity
            // A connection waiting for its answer is not idle; one waiting for the client is.
            if idle >= idleTimeout && (answering || !lastWasRead) {
                context.close(promise: nil)
            } else {
                scheduleIdleCheck(context: context)
            }
        }
    }
}

extension DeviceCredentials {
    init(_ head: CheckRequestHead) {
        self.init(device: head.device, time: head.time, session: head.session, mac: head.mac, signature: head.signature)
    }
}

/// Hummingbird adds extra handlers after its HTTP codecs; the fast path
/// belongs in front of them, on the connection's bytes. This one moves it
/// there when the connection's pipeline is built, then leaves.
final class CheckFastPathInstaller: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart

    private let makeFastPath: () -> CheckFastPathHandler

    init(_ makeFastPath: @escaping () -> CheckFastPathHandler) {
        self.makeFastPath = makeFastPath
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let pipeline = context.pipeline.syncOperations
        if let encoder = try? pipeline.handler(type: HTTPResponseEncoder.self) {
            try? pipeline.addHandler(makeFastPath(), position: .before(encoder))
        }
        pipeline.removeHandler(context: context, promise: nil)
    }
}
