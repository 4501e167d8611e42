import Logging
import NIOCore
import NIOEmbedded
@testable import SlotServer
import Testing

/// The fast path's reads, driven by hand on an `EmbeddedChannel`: a client
/// that sends checks without reading the answers is not read from while the
/// answers wait to drain, and is read from again once they have.
@Suite("Check fast path backpressure")
struct FastPathBackpressureTests {
    /// Counts the reads that reach the socket (the head of the pipeline).
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = Any
        var reads = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    static let check = #"{"clientId":"gw-1","compatible":"acme-gw","channel":"stable","version":"1.0","slot":"A"}"#
    static let request = "POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: \(check.utf8.count)\r\n\r\n\(check)"

    @Test("no read while the channel is not writable; the held read goes out when it is")
    func readsWaitForWritability() async throws {
        try await withStore(.sqlite) { store in
            let configuration = try await makeServerConfiguration(.sqlite)  // anonymous devices allowed
            let state = try ServerState(configuration: configuration, store: store, metrics: ServerMetrics(), logger: Logger(label: "test"))
            let counter = ReadCounter()
            let channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addHandler(counter)
            try channel.pipeline.syncOperations.addHandler(
                CheckFastPathHandler(answerer: CheckAnswerer(state: state), limit: 4096, idleTimeout: nil))
            try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
            let start = counter.reads

            func answers() throws -> [String] {
                var out: [String] = []
                while let part = try channel.readOutbound(as: IOData.self) {
                    guard case .byteBuffer(let buffer) = part else { continue }
                    out.append(String(buffer: buffer))
                }
                return out
            }

            // Writable: an answered check asks for the next read itself.
            try channel.writeInbound(ByteBuffer(string: Self.request))
            #expect(try answers().map { $0.hasPrefix("HTTP/1.1 204 No Content\r\n") } == [true])
            #expect(counter.reads == start + 1, "the read after an answer")

            // Not writable (the client does not read): two pipelined checks are
            // answered, but nothing more is read, neither after them nor when asked.
            channel.isWritable = false
            try channel.writeInbound(ByteBuffer(string: Self.request + Self.request))
            #expect(try answers().count == 2)
            channel.read()
            #expect(counter.reads == start + 1, "no read while the answers wait")

            // The answers drained: the held read goes out, once.
            channel.isWritable = true
            channel.pipeline.fireChannelWritabilityChanged()
            #expect(counter.reads == start + 2)
            channel.pipeline.fireChannelWritabilityChanged()
            #expect(counter.reads == start + 2, "a read is held once, released once")
            #expect(try channel.finish().isClean)
        }
    }
}
