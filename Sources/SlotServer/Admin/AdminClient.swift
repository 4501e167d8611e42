import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SlotWire

/// The admin API over HTTP, as the `slot-server` subcommands (and tests) use it.
/// Errors carry the server's JSON error message and status.
public struct AdminClient: Sendable {
    public let server: URL
    public let token: String

    public init(server: String, token: String) throws(ServerError) {
        guard let url = HTTPURL.parse(server.hasSuffix("/") ? String(server.dropLast()) : server) else { throw ServerError(.configuration, "--server must be an http(s) URL, got '\(server)'") }
        guard !token.isEmpty else {
            throw ServerError(.configuration, "no admin token: pass --token, --token-file or set SLOT_SERVER_ADMIN_TOKEN")
        }
        self.server = url
        self.token = token
    }

    public func createRelease(_ request: DeployRequest) async throws(ServerError) -> DeployResponse {
        try await send("POST", "/v1/releases", json: request, expecting: DeployResponse.self)
    }

    /// Streams the payload file (never loaded whole) to the release's upload path.
    public func uploadPayload(file: String, uploadPath: String) async throws(ServerError) -> ReleaseInfo {
        var request = makeRequest("PUT", uploadPath)
        request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
        request.timeoutInterval = 3600
        let result: (Data, URLResponse)
        do {
            result = try await URLSession.shared.upload(for: request, fromFile: URL(fileURLWithPath: file))
        } catch {
            throw ServerError(.network, "uploading \(file) to \(server.absoluteString)\(uploadPath) failed", cause: error)
        }
        return try decode(result, as: ReleaseInfo.self)
    }

    public func updateRollout(releaseId: String, _ patch: RolloutPatch) async throws(ServerError) -> ReleaseInfo {
        let id = try Identifier(releaseId, what: "release id")
        return try await send("PATCH", "/v1/releases/\(id.value)", json: patch, expecting: ReleaseInfo.self)
    }

    public func releases() async throws(ServerError) -> [ReleaseInfo] {
        try await send("GET", "/v1/releases", expecting: ReleaseList.self).releases
    }

    public func release(_ releaseId: String) async throws(ServerError) -> ReleaseInfo {
        let id = try Identifier(releaseId, what: "release id")
        return try await send("GET", "/v1/releases/\(id.value)", expecting: ReleaseInfo.self)
    }

    public func stats(releaseId: String) async throws(ServerError) -> ReleaseStats {
        let id = try Identifier(releaseId, what: "release id")
        return try await send("GET", "/v1/releases/\(id.value)/stats", expecting: ReleaseStats.self)
    }

    public func devices(limit: Int = 1000, after: String? = nil) async throws(ServerError) -> DeviceList {
        var path = "/v1/devices?limit=\(limit)"
        if let after {
            path += "&after=" + (after.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? after)
        }
        return try await send("GET", path, expecting: DeviceList.self)
    }

    public func makeEnrollToken(_ request: EnrollTokenRequest) async throws(ServerError) -> EnrollTokenInfo {
        try await send("POST", "/v1/enroll-tokens", json: request, expecting: EnrollTokenInfo.self)
    }

    /// The `TargetToken` of a DDI (SWUpdate) device.
    public func ddiTarget(controllerId: String) async throws(ServerError) -> DDITarget {
        struct Ask: Encodable { var controllerId: String }
        return try await send("POST", "/v1/ddi/tokens", json: Ask(controllerId: controllerId), expecting: DDITarget.self)
    }

    public func enrolledDevices(after: Int64 = 0) async throws(ServerError) -> EnrolledDeviceList {
        try await send("GET", "/v1/devices/enrolled?after=\(after)", expecting: EnrolledDeviceList.self)
    }

    public func revokeDevice(_ clientId: String) async throws(ServerError) -> EnrolledDevice {
        let id = try Identifier(clientId, what: "client id")
        return try await send("POST", "/v1/devices/\(id.value)/revoke", expecting: EnrolledDevice.self)
    }

    // MARK: - Plumbing

    private func makeRequest(_ method: String, _ path: String) -> URLRequest {
        var request = URLRequest(url: URL(string: server.absoluteString + path)!)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        request.timeoutInterval = 60
        return request
    }

    private func send<Response: Decodable>(
        _ method: String, _ path: String, expecting: Response.Type
    ) async throws(ServerError) -> Response {
        try await perform(makeRequest(method, path), as: Response.self)
    }

    private func send<Body: Encodable, Response: Decodable>(
        _ method: String, _ path: String, json body: Body, expecting: Response.Type
    ) async throws(ServerError) -> Response {
        var request = makeRequest(method, path)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        do {
            request.httpBody = try WireJSON.encoder().encode(body)
        } catch {
            throw ServerError(.internal, "encoding the request failed", cause: error)
        }
        return try await perform(request, as: Response.self)
    }

    private func perform<Response: Decodable>(_ request: URLRequest, as type: Response.Type) async throws(ServerError) -> Response {
        let result: (Data, URLResponse)
        do {
            result = try await URLSession.shared.data(for: request)
        } catch {
            throw ServerError(.network, "\(request.httpMethod ?? "GET") \(request.url?.absoluteString ?? "") failed", cause: error)
        }
        return try decode(result, as: Response.self)
    }

    private func decode<Response: Decodable>(_ result: (Data, URLResponse), as type: Response.Type) throws(ServerError) -> Response {
        let (data, response) = result
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            if let body = try? WireJSON.decoder().decode(APIErrorBody.self, from: data) {
                let code = ServerError.Code(rawValue: body.error.code) ?? .internal
                throw ServerError(code, "server answered \(status): \(body.error.message)", status: .init(code: status))
            }
            throw ServerError(.network, "server answered \(status)", status: .init(code: status))
        }
        do {
            return try WireJSON.decoder().decode(Response.self, from: data)
        } catch {
            throw ServerError(.network, "the server's answer is not what this client understands", cause: error)
        }
    }
}
