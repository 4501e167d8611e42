import Foundation
import FoundationNetworking
import SlotTestSupport
import SlotWire

/// Tests/Fixtures/update_fixture.py on a free loopback port: a server whose
/// answers and misbehaviour each test sets.
final class FixtureServer: @unchecked Sendable {
    private var process: Process
    let port: Int
    /// The HTTPS port, when started with a certificate.
    let tlsPort: Int?
    let dir = TempDirectory("slotctl-fixture")
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/update_fixture.py").path

    var base: String { "http://127.0.0.1:\(port)" }
    /// The same server over TLS (nil without a certificate).
    var tlsBase: String? { tlsPort.map { "https://127.0.0.1:\($0)" } }
    private let tls: (cert: String, key: String)?

    init(port requested: Int = 0, tls: (cert: String, key: String)? = nil) throws {
        self.tls = tls
        (process, port, tlsPort) = try Self.launch(port: requested, dir: dir, tls: tls)
    }

    private static func launch(port: Int, dir: TempDirectory, tls: (cert: String, key: String)?) throws -> (Process, Int, Int?) {
        let portFile = dir.file("port-\(UUID().uuidString)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, portFile, String(port), dir.file("fixture-state.json")] + (tls.map { [$0.cert, $0.key] } ?? [])
        try process.run()
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8) {
                let ports = text.split(separator: " ").compactMap { Int($0) }
                if let port = ports.first { return (process, port, ports.dropFirst().first) }
            }
            usleep(20_000)
        }
        kill(process.processIdentifier, SIGKILL)
        throw FixtureError("the fixture server did not start")
    }

    deinit { stop() }

    func stop() {
        if process.isRunning {
            // SIGKILL: a child may inherit a blocked SIGTERM from the test runner.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Brings the server back on the same port (after `stop()`).
    func restart() throws {
        (process, _, _) = try Self.launch(port: port, dir: dir, tls: tls)
    }

    struct FixtureError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    private func post(_ path: String, _ body: Data) throws {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = "POST"
        request.httpBody = body
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: (any Error)?
        URLSession.shared.dataTask(with: request) { _, _, error in
            failure = error
            done.signal()
        }.resume()
        done.wait()
        if let failure { throw failure }
    }

    func setRelease(_ release: Release?) throws {
        try post("/_fixture/release", release.map { try WireJSON.encoder().encode($0) } ?? Data("null".utf8))
    }

    func setMode(_ mode: String) throws { try post("/_fixture/mode", Data(mode.utf8)) }

    /// The `Slot-Freshness` value sent with every check answer ("" for none).
    func setFreshness(_ header: String) throws { try post("/_fixture/freshness", Data(header.utf8)) }

    /// Serves `bytes` as /payload/NAME; returns that path.
    func addPayload(_ name: String, _ bytes: [UInt8]) throws -> String {
        dir.write(name, bytes: bytes)
        try post("/_fixture/payload", try JSONSerialization.data(withJSONObject: ["name": name, "path": dir.file(name)]))
        return "/payload/\(name)"
    }

    struct Log: Decodable {
        struct PayloadRequest: Decodable { var range: String?; var mode: String; var path: String? }
        var events: [DeviceEvent]
        var checks: [CheckRequest]
        var payload_requests: [PayloadRequest]
    }

    func log() throws -> Log {
        let data = try Data(contentsOf: URL(string: base + "/_fixture/log")!)
        return try JSONDecoder().decode(Log.self, from: data)
    }
}
