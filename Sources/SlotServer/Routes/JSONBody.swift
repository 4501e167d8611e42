import Foundation
import Hummingbird
import NIOCore
import SlotWire

/// Reading bounded JSON request bodies and writing JSON answers.
enum JSONBody {
    /// Collects at most `limit` bytes (413 beyond, before reading when
    /// Content-Length already says so) and decodes them (400 with the field at fault).
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws(ServerError) -> T {
        try decode(type, from: try await collect(request, limit: limit))
    }

    static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws(ServerError) -> T {
        do {
            return try WireJSON.decoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw ServerError.badRequest("invalid JSON body: \(describe(error))", cause: error)
        } catch {
            throw ServerError.badRequest("invalid JSON body", cause: error)
        }
    }

    static func collect(_ request: Request, limit: Int) async throws(ServerError) -> ByteBuffer {
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw ServerError(.payloadTooLarge, "request body of \(declared) bytes is over the limit of \(limit)")
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw ServerError(.payloadTooLarge, "request body is over the limit of \(limit) bytes")
        } catch {
            throw ServerError.badRequest("reading the request body failed", cause: error)
        }
    }

    static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws(ServerError) -> Response {
        let data: Data
        do {
            data = try WireJSON.encoder().encode(value)
        } catch {
            throw ServerError(.internal, "encoding the answer failed", cause: error)
        }
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// "field 'manifest.size': expected UInt64" rather than Foundation's essay.
    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "the body" : "field '\(keys.joined(separator: "."))'"
        }
        switch error {
        case .typeMismatch(let type, let context): return "\(path(context)): expected \(type)"
        case .valueNotFound(let type, let context): return "\(path(context)): expected \(type), got null"
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "missing field '\(key.stringValue)'" + (parent == "the body" ? "" : " in \(parent)")
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
