import FoundationEssentials
import NIOCore
import SlotWire
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Answers `POST /v1/check` right in the channel pipeline, on the event loop,
/// without the hops into Swift Concurrency (and the HTTPTypes conversion) that
/// a Hummingbird route costs: the hot path of a fleet server, and most of the
/// requests/s it can serve.
///
/// It sits between NIO's HTTP/1 decoder and Hummingbird's HTTPTypes codec. It
/// takes a check only when nothing else is pending on the connection (answers
/// never overtake a pipelined request), buffers the body up to the check limit,
/// and answers only the ordinary case: HTTP/1.1 keep-alive, a plain body that
/// decodes and validates. Everything else (other requests, unusual or invalid
/// bodies, `Connection: close`, `Expect`, trailers) is replayed unchanged to
/// Hummingbird, which answers it, errors included, exactly as it would anyway.
///
/// It also keeps the connection's idle timeout, since the checks it answers
/// never reach Hummingbird's own connection state handler.
final class CheckFastPathHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Mode {
        case idle
        /// The body is usually one chunk: kept as is, copied only when a second one arrives.
        case collecting(HTTPRequestHead, ByteBuffer?, ContinuousClock.Instant)
        case passing
    }

    private let answerer: CheckAnswerer
    private let limit: Int
    private let idleTimeout: TimeAmount?
    private var mode = Mode.idle
    /// Requests handed to Hummingbird whose response has not ended yet.
    private var pending = 0
    /// The peer's IP address, the per-address rate-limit key.
    private var peer: String?
    private var lastActivity = NIODeadline.now()
    private var idleCheck: Scheduled<Void>?

    init(answerer: CheckAnswerer, limit: Int, idleTimeout: TimeAmount?) {
        self.answerer = answerer
        self.limit = limit
        self.idleTimeout = idleTimeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActivity = .now()
        let part = unwrapInboundIn(data)
        switch (mode, part) {
        case (.idle, .head(let head)):
            if pending == 0 && isCandidate(head) {
                mode = .collecting(head, nil, .now)
            } else {
                mode = .passing
                pending += 1
                context.fireChannelRead(data)
            }
        case (.collecting(let head, let body, let start), .body(var chunk)):
            if (body?.readableBytes ?? 0) + chunk.readableBytes > limit {
                replay(head, body, context: context)
                mode = .passing
                context.fireChannelRead(data)
            } else if var body {
                body.writeBuffer(&chunk)
                mode = .collecting(head, body, start)
            } else {
                mode = .collecting(head, chunk, start)
            }
        case (.collecting(let head, let body, let start), .end(let trailers)):
            mode = .idle
            // Any refusal goes to Hummingbird, which answers it with its JSON error (and counts nothing).
            do throws(ServerError) {
                guard trailers == nil else { throw ServerError.badRequest("trailers") }
                let body = body ?? ByteBuffer()
                let check = try answerer.decode(body)
                if answerer.admissionCandidate(check) != nil {
                    // A trial admission needs the store: the route authenticates and asks.
                    throw ServerError(.internal, "trial admission")
                }
                if peer == nil { peer = context.channel.remoteAddress?.ipAddress }  // once per connection
                if case .unknown = try answerer.authenticate(check, credentials: DeviceCredentials(head.headers), body: body, peer: peer) {
                    // A genuine session from another replica: the route asks the store.
                    // It takes a second per-address token, so such a check counts twice.
                    throw ServerError(.deviceUnknown, "not known here yet")
                }
                respond(try answerer.answer(check, authority: head.headers.first(name: "host")), head, context: context, start: start)
            } catch where error.code == .rateLimited || (error.status == .unauthorized && error.code != .deviceUnknown) {
                // Under a flood the refusal must stay as cheap as an answer; and a
                // request that used up its time must not be judged a second time.
                refuse(error, head, context: context)
            } catch {
                replay(head, body, context: context)
                context.fireChannelRead(data)
            }
        case (.passing, .end):
            mode = .idle
            context.fireChannelRead(data)
        default:
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        lastActivity = .now()
        if case .end = unwrapOutboundIn(data) { pending = max(0, pending - 1) }
        context.write(data, promise: promise)
    }

    private func isCandidate(_ head: HTTPRequestHead) -> Bool {
        head.method == .POST && head.uri == "/v1/check" && head.version == .http1_1 && head.isKeepAlive
            && !head.headers.contains(name: "expect")
    }

    /// Hands a buffered request to Hummingbird as if it had just arrived.
    private func replay(_ head: HTTPRequestHead, _ body: ByteBuffer?, context: ChannelHandlerContext) {
        pending += 1
        context.fireChannelRead(wrapInboundOut(.head(head)))
        if let body, body.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(.body(body))) }
    }

    private func respond(_ answer: ByteBuffer?, _ request: HTTPRequestHead, context: ChannelHandlerContext, start: ContinuousClock.Instant) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(5)
        headers.add(name: "Date", value: HTTPDate.now)
        headers.add(name: "Server", value: "slot-server")
        if let freshness = answerer.freshness { headers.add(name: FreshnessStatement.headerName, value: freshness) }
        if let answer {
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(answer.readableBytes))
        }
        let status: HTTPResponseStatus = answer == nil ? .noContent : .ok
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if let answer { context.write(wrapOutboundOut(.body(.byteBuffer(answer))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        answerer.state.metrics.observeFastCheck(answered: answer != nil, duration: ContinuousClock.now - start)
    }

    private func refuse(_ error: ServerError, _ request: HTTPRequestHead, context: ChannelHandlerContext) {
        let body = ByteBuffer(bytes: Array((try? WireJSON.encoder().encode(APIErrorBody(code: error.code.rawValue, message: error.message))) ?? Data()))
        var headers = HTTPHeaders()
        headers.add(name: "Date", value: HTTPDate.now)
        headers.add(name: "Server", value: "slot-server")
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        for field in error.headers { headers.add(name: field.name.rawName, value: field.value) }
        let status = HTTPResponseStatus(statusCode: Int(error.status.code))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
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
            if idle >= idleTimeout && pending == 0, case .idle = mode {
                context.close(promise: nil)
            } else {
                scheduleIdleCheck(context: context)
            }
        }
    }
}

extension DeviceCredentials {
    /// From NIO's headers (the fast path).
    init(_ headers: HTTPHeaders) {
        self.init(
            device: headers.first(name: DeviceAuth.deviceHeader), time: headers.first(name: DeviceAuth.timeHeader),
            session: headers.first(name: DeviceAuth.sessionHeader), mac: headers.first(name: DeviceAuth.macHeader),
            signature: headers.first(name: DeviceAuth.signatureHeader))
    }
}

/// Hummingbird adds extra handlers after its HTTPTypes codec; the fast path
/// belongs before it, on NIO's own HTTP/1 types. This one moves it there when
/// the connection's pipeline is built, then leaves.
final class CheckFastPathInstaller: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart

    private let makeFastPath: () -> CheckFastPathHandler

    init(_ makeFastPath: @escaping () -> CheckFastPathHandler) {
        self.makeFastPath = makeFastPath
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let pipeline = context.pipeline.syncOperations
        if let codec = try? pipeline.handler(type: HTTP1ToHTTPServerCodec.self) {
            try? pipeline.addHandler(makeFastPath(), position: .before(codec))
        }
        pipeline.removeHandler(context: context, promise: nil)
    }
}
