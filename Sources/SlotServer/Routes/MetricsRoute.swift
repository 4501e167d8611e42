import Hummingbird
import NIOCore

/// `GET /metrics`: Prometheus text exposition. `GET /healthz`: liveness.
struct MetricsRoute {
    let state: ServerState

    func register(on router: Router<SlotRequestContext>) {
        router.get("/metrics") { _, _ in
            state.metrics.updateCheckIns(pending: state.recorder.pendingCount, dropped: state.recorder.droppedCount)
            state.metrics.updatePaused(state.catalog.published)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: state.metrics.render())))
        }
        router.get("/healthz") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
        }
    }
}
