import Foundation
import FoundationNetworking
import SlotCore
import SlotWire

/// `POST /v1/check` and `POST /v1/events` over URLSession.
public struct UpdateServerAPI: Sendable {
    public let baseURL: URL
    public let session: URLSession
    public let timeout: TimeInterval

    public init(server: String, timeout: TimeInterval = 30) throws(SlotError) {
        guard let url = HTTPURL.parse(server) else {
            throw SlotError(.invalidConfig, "[update] server is not an http(s) URL: '\(server)'")
        }
        baseURL = url
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        session = URLSession(configuration: configuration)
        self.timeout = timeout
    }

    /// Asks for an update; nil when the server has nothing for this device.
    public func check(_ request: CheckRequest) async throws(SlotError) -> Release? {
        let (data, status) = try await post("v1/check", body: request)
        switch status {
        case 204:
            return nil
        case 200:
            do {
                return try WireJSON.decoder().decode(Release.self, from: data)
            } catch {
                throw SlotError(.network, "the server's answer to /v1/check is not a release: \(error)")
            }
        default:
            throw Self.failure("/v1/check", status, data)
        }
    }

    /// Whether the server took a batch of events. A 4xx means it never
    /// will (malformed or unknown release): the batch is dropped, not retried.
    public enum ReportOutcome: Sendable, Equatable {
        case delivered
        case rejected(String)
    }

    public func report(_ events: [DeviceEvent]) async throws(SlotError) -> ReportOutcome {
        let (data, status) = try await post("v1/events", body: events)
        if (200..<300).contains(status) { return .delivered }
        if (400..<500).contains(status) { return .rejected(Self.failure("/v1/events", status, data).message) }
        throw Self.failure("/v1/events", status, data)
    }

    private func post(_ path: String, body: some Encodable) async throws(SlotError) -> (Data, Int) {
        var request = URLRequest(url: baseURL.appendingPathComponent(path))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.timeoutInterval = timeout
        do {
            request.httpBody = try WireJSON.encoder().encode(body)
        } catch {
            throw SlotError(.usage, "cannot encode the request: \(error)")
        }
        do {
            let (data, response) = try await session.data(for: request)
            return (data, (response as? HTTPURLResponse)?.statusCode ?? 0)
        } catch {
            throw SlotError(.network, "cannot reach the update server \(baseURL.absoluteString)", cause: SendableDescription(error))
        }
    }

    static func failure(_ what: String, _ status: Int, _ data: Data) -> SlotError {
        let reason = (try? WireJSON.decoder().decode(APIErrorBody.self, from: data)).map { ": \($0.error.message)" } ?? ""
        return SlotError(.network, "the update server answered \(what) with HTTP \(status)\(reason)")
    }
}

/// An error from Foundation carried as text, so SlotError stays Sendable.
public struct SendableDescription: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ error: any Error) {
        let nsError = error as NSError
        description = nsError.localizedDescription.isEmpty ? "\(error)" : nsError.localizedDescription
    }
}
