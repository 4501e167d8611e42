import Hummingbird
import Logging
import NIOCore
import SlotWire

/// Turns whatever a route (or the router's not-found) throws into a JSON error
/// answer, so clients always get `{"error":{...}}` and the server logs causes
/// of 5xx answers once, here.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as ServerError {
            if error.status.code >= 500 {
                context.logger.error("\(request.method) \(request.uri.path): \(error)")
            }
            return Self.response(for: error)
        } catch let error as any HTTPResponseError {
            // Hummingbird's own errors: unknown route, body over the decoder limit.
            let code: ServerError.Code =
                switch error.status {
                case .notFound: .notFound
                case .contentTooLarge: .payloadTooLarge
                case .methodNotAllowed: .methodNotAllowed
                case .unauthorized: .unauthorized
                default: error.status.code >= 500 ? .internal : .badRequest
                }
            let message = error.status == .notFound ? "no such endpoint: \(request.method) \(request.uri.path)" : error.status.reasonPhrase
            return Self.response(for: ServerError(code, message, status: error.status))
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            context.logger.error("\(request.method) \(request.uri.path): unexpected error: \(error)")
            return Self.response(for: ServerError(.internal, "internal server error", cause: error))
        }
    }

    static func response(for error: ServerError) -> Response {
        let (fields, body) = error.answer
        return Response(status: error.status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
