import Crypto
import Foundation
import Hummingbird
import SlotServer
import SlotWire
import Testing

/// The hawkBit DDI face as SWUpdate's suricatta drives it (bodies as the
/// Debian build sends them, printf-built), over real HTTP.
@Suite("hawkBit DDI face", .serverThreads)
struct DDITests {
    static func configuration() async throws -> ServerConfiguration {
        var configuration = try await makeServerConfiguration(.sqlite)
        configuration.ddi = DDIConfiguration(compatible: "acme-gw", gatewayToken: "gateway-secret", pollSeconds: 5)
        return configuration
    }

    struct Device {
        let server: TestServer
        let id: String
        let token: String
        var base: String { "/DEFAULT/controller/v1/\(id)" }
        var auth: HTTPFields { [.authorization: "TargetToken \(token)"] }

        func get(_ path: String, headers: HTTPFields = [:]) async throws -> HTTP.Answer {
            var all = auth
            for field in headers { all.append(field) }
            return try await server.http.send(.get, path, headers: all)
        }

        func poll() async throws -> [String: Any] {
            let answer = try await get(base)
            #expect(answer.status == 200, "\(answer.text)")
            return try #require(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])
        }

        func links() async throws -> [String: String] {
            let links = try await poll()["_links"] as? [String: [String: String]] ?? [:]
            return links.compactMapValues { $0["href"] }
        }

        /// A feedback body exactly as suricatta's printf template makes it.
        func feedback(_ action: String, execution: String, finished: String, details: String, cancel: Bool = false) async throws -> HTTP.Answer {
            let body = "{ \"id\": \(action), \"time\": \"20261130T031655\", \"status\": { \"result\": { \"progress\": { \"cnt\" : 1, \"of\" : 1 }, \"finished\": \"\(finished)\" }, \"execution\": \"\(execution)\", \"details\" : [ \"\(details)\" ] } }"
            let path = base + (cancel ? "/cancelAction/\(action)/feedback" : "/deploymentBase/\(action)/feedback")
            return try await server.http.send(.post, path, headers: auth + [.contentType: "application/json"], body: Array(body.utf8))
        }
    }

    static func path(_ href: String) -> String {
        // Links are absolute (suricatta follows them as given); the test client wants the path.
        guard let url = URL(string: href) else { return href }
        return url.path + (url.query.map { "?" + $0 } ?? "")
    }

    @Test("a device polls, gets a deployment with a .swu artifact, downloads it by Range, reports, and is counted")
    func installAndReport() async throws {
        try await withServer(try await Self.configuration()) { server in
            let release = try await server.deploy(version: "1.1", size: 300_000, seed: 5)
            let token = try await server.admin.ddiTarget(controllerId: "dev01").token
            #expect(token == (try await server.admin.ddiTarget(controllerId: "dev01").token), "derived: the same every time")
            let device = Device(server: server, id: "dev01", token: token)

            // Authentication and tenant.
            #expect(try await server.http.send(.get, device.base).status == 401)
            #expect(try await server.http.send(.get, device.base, headers: [.authorization: "TargetToken \(String(repeating: "0", count: 64))"]).status == 401)
            let other = try await server.admin.ddiTarget(controllerId: "dev02").token
            #expect(try await server.http.send(.get, device.base, headers: [.authorization: "TargetToken \(other)"]).status == 401, "another device's token")
            #expect(try await server.http.send(.get, device.base, headers: [.authorization: "GatewayToken gateway-secret"]).status == 200)
            #expect(try await server.http.send(.get, "/OTHER/controller/v1/dev01", headers: device.auth).status == 404)

            let polled = try await device.poll()
            #expect((polled["config"] as? [String: Any]).flatMap { ($0["polling"] as? [String: String])?["sleep"] } == "00:00:05")
            var links = try await device.links()
            let deploymentHref = try #require(links["deploymentBase"])
            #expect(deploymentHref.hasSuffix("/DEFAULT/controller/v1/dev01/deploymentBase/\(release.deployOrder!)"))
            #expect(links["configData"] != nil)

            let deployment = try await device.get(Self.path(deploymentHref))
            #expect(deployment.status == 200, "\(deployment.text)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(deployment.body)) as? [String: Any])
            #expect(json["id"] as? String == String(release.deployOrder!))
            let body = try #require(json["deployment"] as? [String: Any])
            #expect(body["update"] as? String == "forced")
            let chunk = try #require((body["chunks"] as? [[String: Any]])?.first)
            #expect(chunk["version"] as? String == "1.1")
            let artifact = try #require((chunk["artifacts"] as? [[String: Any]])?.first)
            let filename = try #require(artifact["filename"] as? String)
            #expect(filename.hasSuffix(".swu"))
            let image = [UInt8](try Data(contentsOf: URL(fileURLWithPath: TestSupport.makeImage(in: server.configuration.dataDirectory, size: 300_000, seed: 5))))
            let sha1 = Insecure.SHA1.hash(data: image).map { String(format: "%02x", $0) }.joined()
            #expect((artifact["hashes"] as? [String: String])?["sha1"] == sha1)
            #expect(artifact["size"] as? Int == 300_000)
            let download = try #require(((artifact["_links"] as? [String: [String: String]])?["download-http"])?["href"])

            // HEAD, then the whole artifact, then a resumed tail (suricatta's Range after a cut).
            let head = try await server.http.send(.head, Self.path(download), headers: device.auth)
            #expect(head.status == 200 && head.headers[.contentLength] == "300000")
            let whole = try await device.get(Self.path(download))
            #expect(whole.status == 200 && whole.body == image)
            let tail = try await device.get(Self.path(download), headers: [.range: "bytes=299000-"])
            #expect(tail.status == 206 && tail.body == Array(image[299_000...]))

            // configData once: the link goes away (while it is there suricatta sends it instead of installing).
            let config = try await server.http.send(
                .put, device.base + "/configData", headers: device.auth + [.contentType: "application/json"],
                body: Array("{ \"id\": \"\", \"time\": \"20261130T031655\", \"status\": { \"result\": { \"finished\": \"success\" }, \"execution\": \"closed\", \"details\" : [ \"\" ] }, \"data\" : { \"board\": \"acme\" } }".utf8))
            #expect(config.status == 200)
            links = try await device.links()
            #expect(links["configData"] == nil && links["deploymentBase"] == deploymentHref, "the action stays open")

            // Progress (a raw newline in details, as suricatta's installer lines have), then success.
            let action = String(release.deployOrder!)
            #expect(try await device.feedback(action, execution: "proceeding", finished: "none", details: "Installing Update Chunk Artifacts.\n").status == 200)
            #expect(try await device.feedback(action, execution: "closed", finished: "success", details: "Update Installed.").status == 200)
            let stats = try await server.admin.stats(releaseId: release.id)
            #expect(stats.devicesByEvent["downloaded"] == 1 && stats.devicesByEvent["marked-good"] == 1, "\(stats.devicesByEvent)")
            // Done: nothing more to do for it, and the device list shows it on 1.1.
            #expect(try await device.links()["deploymentBase"] == nil)
            try await eventually { try await server.admin.devices().devices.contains { $0.clientId == "dev01" && $0.version == "1.1" } }
            // A late report for a closed action changes nothing.
            #expect(try await device.feedback(action, execution: "closed", finished: "failure", details: "stale").status == 200)
            #expect(try await server.admin.stats(releaseId: release.id).failedDevices == 0)
        }
    }

    @Test("a failed install is counted, pauses the release like any failure, and is never offered again; a paused release becomes a cancel")
    func failureAndCancel() async throws {
        var configuration = try await Self.configuration()
        configuration.autoPause = AutoPausePolicy(threshold: 0.05, minReports: 1)
        try await withServer(configuration) { server in
            let release = try await server.deploy(version: "2.0")
            let failing = Device(server: server, id: "dev-fail", token: try await server.admin.ddiTarget(controllerId: "dev-fail").token)
            let waiting = Device(server: server, id: "dev-wait", token: try await server.admin.ddiTarget(controllerId: "dev-wait").token)
            let action = String(release.deployOrder!)
            #expect(try await failing.links()["deploymentBase"] != nil)
            #expect(try await waiting.links()["deploymentBase"] != nil)

            #expect(try await failing.feedback(action, execution: "closed", finished: "failure", details: "sha1 mismatch").status == 200)
            let stats = try await server.admin.stats(releaseId: release.id)
            #expect(stats.failedDevices == 1 && stats.release.paused, "one failure of one report passes 5 %")
            #expect(try await failing.links()["deploymentBase"] == nil)

            // The other device's open action, now paused: a cancel, acknowledged as suricatta does.
            let cancelHref = try #require(try await waiting.links()["cancelAction"])
            let cancel = try await waiting.get(Self.path(cancelHref))
            let json = try #require(try JSONSerialization.jsonObject(with: Data(cancel.body)) as? [String: Any])
            #expect((json["cancelAction"] as? [String: String])?["stopId"] == action)
            #expect(try await waiting.feedback(action, execution: "closed", finished: "success", details: "cancellation acknowledged.", cancel: true).status == 200)
            let after = try await waiting.links()
            #expect(after["cancelAction"] == nil && after["deploymentBase"] == nil)
            #expect(try await server.admin.stats(releaseId: release.id).devicesByEvent["marked-good"] == nil, "a cancel is no confirmation")
        }
    }
}

private func + (lhs: HTTPFields, rhs: HTTPFields) -> HTTPFields {
    var all = lhs
    for field in rhs { all.append(field) }
    return all
}
