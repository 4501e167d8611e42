import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import SlotServer
import SlotWire

/// Raw HTTP/1.1 on loopback against a running server, one connection per
/// request, with any method, headers and body (including malformed ones).
struct HTTP: Sendable {
    let port: Int

    struct Answer: Sendable {
        var status: Int
        var headers: HTTPFields
        var body: [UInt8]

        var text: String { String(decoding: body, as: UTF8.self) }

        func json<T: Decodable>(_ type: T.Type) throws -> T {
            try WireJSON.decoder().decode(T.self, from: Data(body))
        }

        /// The server's JSON error, which every 4xx/5xx must carry.
        var error: APIErrorBody.Detail? { (try? json(APIErrorBody.self))?.error }
    }

    func send(_ method: HTTPRequest.Method, _ path: String, headers: HTTPFields = [:], body: [UInt8]? = nil) async throws -> Answer {
        try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
            let response = try await client.execute(
                TestClient.Request(
                    path, method: method, authority: "127.0.0.1:\(port)", headers: headers, body: body.map { ByteBuffer(bytes: $0) }))
            return Answer(
                status: Int(response.status.code), headers: response.headers,
                body: response.body.map { Array($0.readableBytesView) } ?? [])
        }
    }

    func post<T: Encodable>(_ path: String, json value: T, headers: HTTPFields = [:]) async throws -> Answer {
        var headers = headers
        headers[.contentType] = "application/json"
        return try await send(.post, path, headers: headers, body: Array(try WireJSON.encoder().encode(value)))
    }

    func postRaw(_ path: String, _ text: String, headers: HTTPFields = [:]) async throws -> Answer {
        var headers = headers
        headers[.contentType] = "application/json"
        return try await send(.post, path, headers: headers, body: Array(text.utf8))
    }

    func check(_ clientId: String, version: String = "0.9", channel: String = "stable", compatible: String = "acme-gw") async throws -> Answer {
        try await post("/v1/check", json: CheckRequest(clientId: clientId, compatible: compatible, channel: channel, version: version, slot: "A"))
    }

    /// The release id offered to each client (nil for 204), over one keep-alive connection.
    func offers(for clientIds: [String], version: String) async throws -> [String: String?] {
        try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
            var result: [String: String?] = [:]
            for id in clientIds {
                let body = try WireJSON.encoder().encode(
                    CheckRequest(clientId: id, compatible: "acme-gw", channel: "stable", version: version, slot: "A"))
                let response = try await client.execute(
                    TestClient.Request(
                        "/v1/check", method: .post, authority: "127.0.0.1:\(port)", headers: [.contentType: "application/json"],
                        body: ByteBuffer(bytes: body)))
                if response.status == .ok, let buffer = response.body {
                    result[id] = try WireJSON.decoder().decode(Release.self, from: Data(buffer.readableBytesView)).id
                } else {
                    result[id] = .some(nil)
                }
            }
            return result
        }
    }

    static var admin: HTTPFields { [.authorization: "Bearer \(TestSupport.adminToken)"] }
}
