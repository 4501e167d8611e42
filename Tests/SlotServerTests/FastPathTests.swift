import Foundation
import Hummingbird
import SlotServer
import SlotWire
import Testing

/// The event-loop fast path for checks: it answers the ordinary ones, hands
/// everything else to Hummingbird unchanged, never reorders pipelined answers,
/// and keeps the idle timeout.
@Suite("Check fast path", .serverThreads)
struct FastPathTests {
    func counter(_ name: String, _ server: TestServer) async throws -> Int {
        let text = try await server.http.send(.get, "/metrics").text
        let line = text.split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? -1
    }

    @Test("plain checks take the fast path; unusual ones get the same answer through Hummingbird")
    func fastAndSlowAgree() async throws {
        try await withServer(try await makeServerConfiguration(.sqlite)) { server in
            let release = try await server.deploy(version: "1.0")
            for i in 0..<20 { #expect(try await server.http.check("fast-\(i)").status == 200) }
            #expect(try await counter("slot_server_checks_fast_path_total", server) == 20)

            // An escaped character: decoded by JSONDecoder instead of the plain parser, same answer.
            let escaped = try await server.http.postRaw(
                "/v1/check", #"{"clientId":"esc\u0061ped","compatible":"acme-gw","channel":"stable","version":"0.9","slot":"A"}"#)
            #expect(escaped.status == 200)
            #expect(try escaped.json(Release.self).id == release.id)
            let close = try await server.http.post(
                "/v1/check", json: CheckRequest(clientId: "closer", compatible: "acme-gw", channel: "stable", version: "0.9", slot: "A"),
                headers: [.connection: "close"])
            #expect(close.status == 200)
            let invalid = try await server.http.postRaw("/v1/check", #"{"clientId":"x","compatible":"acme-gw","channel":"stable","version":"1","slot":"Z"}"#)
            #expect(invalid.status == 400 && invalid.error?.message.contains("slot") == true)
            // The escaped one stayed on the fast path; `Connection: close` and the invalid one went to Hummingbird.
            #expect(try await counter("slot_server_checks_fast_path_total", server) == 21)
            #expect(try await counter("slot_server_checks_total", server) == 22)
            let devices = try await server.admin.devices()
            #expect(Set(devices.devices.map(\.clientId)).isSuperset(of: ["escaped", "closer"]))
        }
    }

    @Test("pipelined requests are answered in order, slow ones before the checks behind them")
    func pipelining() async throws {
        try await withServer(try await makeServerConfiguration(.sqlite)) { server in
            _ = try await server.deploy(version: "1.0")
            let check = #"{"clientId":"pipe","compatible":"acme-gw","channel":"stable","version":"0.9","slot":"A"}"#
            let checkRequest = "POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(check.utf8.count)\r\n\r\n\(check)"
            let request =
                checkRequest + "GET /v1/releases HTTP/1.1\r\nHost: x\r\n\r\n" + checkRequest
                + "GET /v1/nowhere HTTP/1.1\r\nHost: x\r\n\r\n" + checkRequest + "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            let (text, closed) = try RawHTTP(port: server.running.port).exchange(request)
            #expect(closed)
            #expect(RawHTTP.statuses(text) == [200, 401, 200, 404, 200, 200])
            #expect(text.hasSuffix("ok\n"))
        }
    }

    @Test("a check that arrives in pieces is answered on the fast path; one cut short is closed at the idle timeout")
    func checkInPieces() async throws {
        var configuration = try await makeServerConfiguration(.sqlite)
        configuration.idleTimeout = .seconds(1)
        try await withServer(configuration) { server in
            let release = try await server.deploy(version: "1.0")
            let check = #"{"clientId":"slow-link","compatible":"acme-gw","channel":"stable","version":"0.9","slot":"A"}"#
            let request = "POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: \(check.utf8.count)\r\n\r\n\(check)"
            let bytes = Array(request.utf8)
            // Inside the request line, inside a field, at the end of the head, inside the body;
            // then a second check in the same write as the end of the first.
            let cuts = [10, 30, request.utf8.count - check.utf8.count, request.utf8.count - 20]
            var pieces: [String] = []
            var start = 0
            for cut in cuts {
                pieces.append(String(decoding: bytes[start..<cut], as: UTF8.self))
                start = cut
            }
            pieces.append(String(decoding: bytes[start...], as: UTF8.self) + request)
            let (text, closed) = try RawHTTP(port: server.running.port).exchange(pieces: pieces, timeout: .seconds(5))
            #expect(RawHTTP.statuses(text) == [200, 200])
            #expect(text.contains(release.id))
            #expect(closed, "the idle timeout closes the connection after the answers")
            #expect(try await counter("slot_server_checks_fast_path_total", server) == 2)

            // Half a head, then nothing: closed at the idle timeout, nothing answered or recorded.
            let cut = try RawHTTP(port: server.running.port).exchange(String(request.prefix(40)), timeout: .seconds(5))
            #expect(cut.closed && cut.text.isEmpty)
            #expect(try await counter("slot_server_checks_total", server) == 2)
        }
    }

    @Test("idle connections are closed after the idle timeout, also after fast-path checks")
    func idleTimeout() async throws {
        var configuration = try await makeServerConfiguration(.sqlite)
        configuration.idleTimeout = .seconds(1)
        try await withServer(configuration) { server in
            let silent = try RawHTTP(port: server.running.port).exchange("", timeout: .seconds(5))
            #expect(silent.closed)
            let check = #"{"clientId":"idle","compatible":"acme-gw","channel":"stable","version":"0.9","slot":"A"}"#
            let afterCheck = try RawHTTP(port: server.running.port).exchange(
                "POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: \(check.utf8.count)\r\n\r\n\(check)", timeout: .seconds(5))
            #expect(afterCheck.closed && RawHTTP.statuses(afterCheck.text) == [204])
        }
    }
}
