import Foundation
import Hummingbird
import HummingbirdTesting
import SlotServer
import SlotWire
import Testing

/// Everything the server must refuse with a 4xx and a JSON error, and keep
/// serving afterwards.
@Suite("Refusals and bad input", .serverThreads)
struct RefusalTests {
    @Test("admin endpoints answer 401 without the right bearer token")
    func adminNeedsToken() async throws {
        try await withServer(try await makeServerConfiguration(.sqlite)) { server in
            let release = try await server.deploy(version: "1.0")
            let endpoints: [(HTTPRequest.Method, String)] = [
                (.post, "/v1/releases"), (.patch, "/v1/releases/\(release.id)"), (.get, "/v1/releases"),
                (.get, "/v1/releases/\(release.id)"), (.get, "/v1/releases/\(release.id)/stats"), (.get, "/v1/devices"),
                (.put, "/v1/releases/\(release.id)/payload"),
            ]
            let badHeaders: [HTTPFields] = [
                [:], [.authorization: "Bearer wrong-token"], [.authorization: "Bearer \(TestSupport.adminToken)x"],
                [.authorization: "Basic \(Data("admin:\(TestSupport.adminToken)".utf8).base64EncodedString())"],
                [.authorization: TestSupport.adminToken], [.authorization: "Bearer "],
            ]
            for (method, path) in endpoints {
                for headers in badHeaders {
                    let answer = try await server.http.send(method, path, headers: headers, body: Array(#"{"paused":true}"#.utf8))
                    #expect(answer.status == 401, "\(method) \(path) \(headers)")
                    #expect(answer.error?.code == "unauthorized")
                    #expect(answer.headers[.wwwAuthenticate] != nil)
                }
            }
            #expect(try await server.admin.release(release.id).paused == false)
            let client = try AdminClient(server: server.running.baseURL, token: "nope")
            let error = await #expect(throws: ServerError.self) { try await client.releases() }
            #expect(error?.code == .unauthorized && error?.message.contains("wrong admin token") == true)
        }
    }

    @Test("oversized, malformed and mistyped bodies are 4xx with a JSON error; the server keeps serving")
    func badBodies() async throws {
        try await withServer(try await makeServerConfiguration(.sqlite)) { server in
            _ = try await server.deploy(version: "1.0")
            let http = server.http
            let huge = "{\"clientId\":\"" + String(repeating: "x", count: 70_000) + "\"}"
            let cases: [(String, String, HTTPFields, Int, String)] = [
                ("/v1/check", huge, [:], 413, "payload-too-large"),
                ("/v1/check", "{not json", [:], 400, "not valid JSON"),
                ("/v1/check", "", [:], 400, "bad-request"),
                ("/v1/check", "[]", [:], 400, "bad-request"),
                ("/v1/check", #"{"clientId":5,"compatible":"acme-gw","channel":"stable","version":"1","slot":"A"}"#, [:], 400, "clientId"),
                ("/v1/check", #"{"compatible":"acme-gw","channel":"stable","version":"1","slot":"A"}"#, [:], 400, "clientId"),
                ("/v1/check", #"{"clientId":"d","compatible":"acme-gw","channel":"stable","version":"1","slot":"Q"}"#, [:], 400, "slot"),
                ("/v1/check", #"{"clientId":"d\u0000x","compatible":"acme-gw","channel":"stable","version":"1","slot":"A"}"#, [:], 400, "control"),
                ("/v1/check", #"{"clientId":"\#(String(repeating: "y", count: 200))","compatible":"a","channel":"s","version":"1","slot":"A"}"#, [:], 400, "longer"),
                ("/v1/events", #"{"clientId":"d"}"#, [:], 400, "bad-request"),
                ("/v1/events", #"[{"clientId":"d","releaseId":null,"type":"exploded","at":"t"}]"#, [:], 400, "type"),
                ("/v1/events", #"[{"clientId":"d","releaseId":"../../etc/passwd","type":"failed","at":"t"}]"#, [:], 400, "releaseId"),
                ("/v1/releases", "{}", HTTP.admin, 400, "channel"),
                ("/v1/releases", #"{"channel":"stable","manifest":{"size":"big"}}"#, HTTP.admin, 400, "manifest"),
            ]
            for (path, body, headers, status, needle) in cases {
                let answer = try await http.postRaw(path, body, headers: headers)
                #expect(answer.status == status, "\(path) \(body.prefix(80))")
                let error = try #require(answer.error, "no JSON error for \(path) \(body.prefix(80)): \(answer.text.prefix(200))")
                #expect(error.code == needle || error.message.contains(needle), "\(error)")
            }
            let tooMany = (0..<1001).map { DeviceEvent(clientId: "d\($0)", releaseId: nil, type: .booted, detail: nil, at: "t") }
            let batch = try await http.post("/v1/events", json: tooMany)
            #expect(batch.status == 413 && batch.error?.message.contains("1000") == true)
            // A long detail is cut, not refused: a device must not re-send its queue forever over a log line.
            let longDetail = [DeviceEvent(clientId: "d", releaseId: nil, type: .failed, detail: String(repeating: "é", count: 5000), at: "t")]
            #expect(try await http.post("/v1/events", json: longDetail).status == 200)

            let unknown = try await http.send(.get, "/v1/nothing-here")
            #expect(unknown.status == 404 && unknown.error?.code == "not-found")
            let wrongMethod = try await http.send(.delete, "/v1/check")
            #expect((400..<500).contains(wrongMethod.status) && wrongMethod.error != nil)

            // Still serving.
            #expect(try await http.check("after-the-storm").status == 200)
        }
    }

    @Test("path tricks in ids are refused and never reach the file system")
    func pathTricks() async throws {
        try await withServer(try await makeServerConfiguration(.sqlite)) { server in
            _ = try await server.deploy(version: "1.0")
            let paths = [
                "/v1/payloads/..%2Fslot-server.sqlite", "/v1/payloads/%2e%2e%2fslot-server.sqlite", "/v1/payloads/.hidden",
                "/v1/payloads/a%00b", "/v1/payloads/%00", "/v1/payloads/" + String(repeating: "a", count: 65),
                "/v1/payloads/..", "/v1/payloads/a%2Fb", "/v1/payloads/caf%C3%A9",
                "/v1/releases/..%2F..%2Fetc%2Fpasswd", "/v1/releases/%2e%2e/stats", "/v1/releases/a%00/stats",
            ]
            for path in paths {
                let answer = try await server.http.send(.get, path, headers: HTTP.admin)
                #expect((400..<500).contains(answer.status), "\(path) answered \(answer.status)")
                #expect(answer.error != nil, "\(path): \(answer.text.prefix(120))")
                #expect(!answer.text.contains("SQLite format"))
            }
            let sneaky = try await server.http.send(.put, "/v1/releases/..%2Fpayloads%2Fx/payload", headers: HTTP.admin, body: [1, 2, 3])
            #expect((400..<500).contains(sneaky.status) && sneaky.error != nil)
            let patch = try await server.http.send(.patch, "/v1/releases/a%2F..%2Fb", headers: HTTP.admin, body: Array(#"{"paused":true}"#.utf8))
            #expect((400..<500).contains(patch.status) && patch.error != nil)
        }
    }

    @Test("deploys are refused for a bad signature, bad fields and absurd sizes")
    func badDeploys() async throws {
        var configuration = try await makeServerConfiguration(.sqlite)
        configuration.limits.payloadSize = 1 << 20
        try await withServer(configuration) { server in
            let manifest = TestSupport.manifest(version: "1.0")
            let good = try ReleaseSignature.sign(manifest, privateKeyBase64: TestSupport.keys.privateKey)
            let otherKey = ReleaseSignature.generateKeyPair().privateKey

            func deploy(_ request: DeployRequest) async throws -> HTTP.Answer {
                try await server.http.post("/v1/releases", json: request, headers: HTTP.admin)
            }
            var tampered = manifest
            tampered.version = "1.0-evil"
            let refusals: [(DeployRequest, Int, String)] = [
                (DeployRequest(channel: "stable", manifest: manifest, signature: try ReleaseSignature.sign(manifest, privateKeyBase64: otherKey)), 400, "bad-signature"),
                (DeployRequest(channel: "stable", manifest: tampered, signature: good), 400, "bad-signature"),
                (DeployRequest(channel: "stable", manifest: manifest, signature: "bm90IGEgc2lnbmF0dXJl"), 400, "bad-signature"),
                (DeployRequest(channel: "stable", manifest: manifest, signature: "%%%"), 400, "bad-signature"),
                (DeployRequest(channel: "../beta", manifest: manifest, signature: good), 400, "bad-request"),
                (DeployRequest(channel: "stable", manifest: manifest, signature: good, rolloutPercent: 100.5), 400, "bad-request"),
                (DeployRequest(channel: "stable", manifest: manifest, signature: good, rolloutPercent: -1), 400, "bad-request"),
                (DeployRequest(channel: "stable", manifest: manifest, signature: good, experiment: ExperimentArm(name: "x", start: 30, end: 10)), 400, "bad-request"),
                (DeployRequest(channel: "stable", manifest: manifest, signature: good, url: "file:///etc/passwd"), 400, "bad-request"),
            ]
            for (request, status, code) in refusals {
                let answer = try await deploy(request)
                #expect(answer.status == status, "\(request)")
                #expect(answer.error?.code == code, "\(answer.text)")
            }

            var huge = manifest
            huge.size = 4 << 30
            huge.payloadSize = 4 << 30
            let tooBig = try await deploy(DeployRequest(channel: "stable", manifest: huge, signature: try ReleaseSignature.sign(huge, privateKeyBase64: TestSupport.keys.privateKey)))
            #expect(tooBig.status == 413 && tooBig.error?.code == "payload-too-large")
            var absurd = manifest
            absurd.size = UInt64.max
            absurd.payloadSize = UInt64.max
            let overflow = try await deploy(DeployRequest(channel: "stable", manifest: absurd, signature: try ReleaseSignature.sign(absurd, privateKeyBase64: TestSupport.keys.privateKey)))
            #expect(overflow.status == 400)
            var badDigest = manifest
            badDigest.sha256 = "zz"
            let digest = try await deploy(DeployRequest(channel: "stable", manifest: badDigest, signature: good))
            #expect(digest.status == 400 && digest.error?.message.contains("sha256") == true)

            #expect(try await server.admin.releases().isEmpty)

            #expect(try await server.http.check("still-fine").status == 204)
        }
    }

    @Test("without --release-key, signatures are still checked for form")
    func noReleaseKey() async throws {
        var configuration = try await makeServerConfiguration(.sqlite)
        configuration.releasePublicKey = nil
        try await withServer(configuration) { server in
            let manifest = TestSupport.manifest(version: "1.0")
            let otherKey = ReleaseSignature.generateKeyPair().privateKey
            let accepted = try await server.http.post(
                "/v1/releases", json: DeployRequest(channel: "stable", manifest: manifest, signature: try ReleaseSignature.sign(manifest, privateKeyBase64: otherKey)),
                headers: HTTP.admin)
            #expect(accepted.status == 201)
            let refused = try await server.http.post(
                "/v1/releases", json: DeployRequest(channel: "stable", manifest: manifest, signature: "c2hvcnQ="), headers: HTTP.admin)
            #expect(refused.status == 400 && refused.error?.code == "bad-signature")
        }
    }
}

extension HTTPFields {
    func merging(_ other: HTTPFields) -> HTTPFields {
        var result = self
        for field in other { result[field.name] = field.value }
        return result
    }
}
