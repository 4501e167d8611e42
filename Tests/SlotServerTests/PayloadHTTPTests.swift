import Crypto
import Foundation
import Hummingbird
import SlotServer
import SlotWire
import Testing

/// Payload downloads: full, HEAD, Range (206/416), ETag and conditional requests, gzip, external URLs.
@Suite("Payload downloads over HTTP", .serverThreads)
struct PayloadHTTPTests {
    @Test("GET, HEAD and every Range form, with Content-Range, ETag and 416")
    func rangesAndETag() async throws {
        try await withServer(try await makeServerConfiguration(.sqlite)) { server in
            let directory = server.configuration.dataDirectory
            let imagePath = try TestSupport.makeImage(in: directory, size: 200_000, seed: 9)
            let image = [UInt8](try Data(contentsOf: URL(fileURLWithPath: imagePath)))
            var options = Deployer.Options(imagePath: imagePath, compatible: "acme-gw", channel: "stable", version: "1.0")
            options.rolloutPercent = 100
            let release = try await Deployer(client: server.admin, privateKeyBase64: TestSupport.keys.privateKey).deploy(options)
            let path = "/v1/payloads/\(release.id)"
            let etag = "\"\(Hex(SHA256.hash(data: image)))\""

            let full = try await server.http.send(.get, path)
            #expect(full.status == 200 && full.body == image)
            #expect(full.headers[.eTag] == etag && full.headers[.acceptRanges] == "bytes")
            #expect(full.headers[.contentLength] == "200000")

            let head = try await server.http.send(.head, path)
            #expect(head.status == 200 && head.body.isEmpty && head.headers[.contentLength] == "200000" && head.headers[.eTag] == etag)

            let cases: [(String, Range<Int>, String)] = [
                ("bytes=0-99", 0..<100, "bytes 0-99/200000"),
                ("bytes=199990-", 199_990..<200_000, "bytes 199990-199999/200000"),
                ("bytes=-5", 199_995..<200_000, "bytes 199995-199999/200000"),
                ("bytes=100-5000000", 100..<200_000, "bytes 100-199999/200000"),
                ("bytes=65536-131071", 65536..<131_072, "bytes 65536-131071/200000"),
            ]
            for (header, expected, contentRange) in cases {
                let answer = try await server.http.send(.get, path, headers: [.range: header])
                #expect(answer.status == 206, "\(header)")
                #expect(answer.headers[.contentRange] == contentRange, "\(header)")
                #expect(answer.body == Array(image[expected]), "\(header)")
                #expect(answer.headers[.contentLength] == String(expected.count))
            }
            let headRange = try await server.http.send(.head, path, headers: [.range: "bytes=10-19"])
            #expect(headRange.status == 206 && headRange.body.isEmpty && headRange.headers[.contentLength] == "10")

            for unsatisfiable in ["bytes=200000-", "bytes=300000-300010", "bytes=-0"] {
                let answer = try await server.http.send(.get, path, headers: [.range: unsatisfiable])
                #expect(answer.status == 416, "\(unsatisfiable)")
                #expect(answer.headers[.contentRange] == "bytes */200000")
                #expect(answer.error?.code == "range-not-satisfiable")
            }
            // Invalid or multi-range headers are ignored: the whole payload.
            for ignored in ["bytes=5-1", "bytes=abc-", "items=0-1", "bytes=0-1,5-6"] {
                let answer = try await server.http.send(.get, path, headers: [.range: ignored])
                #expect(answer.status == 200 && answer.body.count == 200_000, "\(ignored)")
            }
            #expect(try await server.http.send(.get, path, headers: [.ifNoneMatch: etag]).status == 304)
            let staleIfRange = try await server.http.send(.get, path, headers: [.range: "bytes=0-9", .ifRange: "\"other\""])
            #expect(staleIfRange.status == 200 && staleIfRange.body.count == 200_000)
            let freshIfRange = try await server.http.send(.get, path, headers: [.range: "bytes=0-9", .ifRange: etag])
            #expect(freshIfRange.status == 206 && freshIfRange.body == Array(image[0..<10]))
        }
    }

    @Test("a gzip release serves the gzip stream; size and digests describe the inflated image")
    func gzipPayload() async throws {
        try await withServer(try await makeServerConfiguration(.sqlite)) { server in
            let release = try await server.deploy(version: "2.0", size: 300_000, gzip: true, seed: 3)
            #expect(release.compression == .gzip && release.size == 300_000 && release.payloadSize < 300_000)
            let offered = try await server.http.check("dev").json(Release.self)
            #expect(offered.compression == .gzip && offered.payloadSize == release.payloadSize)
            let payload = try await server.http.send(.get, "/v1/payloads/\(release.id)")
            #expect(payload.status == 200 && payload.body.count == Int(release.payloadSize))
            #expect(payload.headers[.contentType] == "application/gzip")
            #expect(payload.body.prefix(2) == [0x1f, 0x8b])
            #expect(payload.headers[.eTag] == "\"\(Hex(SHA256.hash(data: payload.body)))\"")
            let image = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try TestSupport.makeImage(in: server.configuration.dataDirectory, size: 300_000, seed: 3))))
            #expect(Hex(SHA256.hash(data: image)) == release.sha256)
        }
    }

    @Test("an external-URL release is published at once and never served here")
    func externalURL() async throws {
        try await withServer(try await makeServerConfiguration(.sqlite)) { server in
            let manifest = TestSupport.manifest(version: "5.0")
            let signature = try ReleaseSignature.sign(manifest, privateKeyBase64: TestSupport.keys.privateKey)
            let created = try await server.admin.createRelease(
                DeployRequest(channel: "stable", manifest: manifest, signature: signature, url: "https://cdn.example.com/img/5.0.bin"))
            #expect(created.uploadPath == nil && created.release.state == .published)
            let offered = try await server.http.check("dev").json(Release.self)
            #expect(offered.url == "https://cdn.example.com/img/5.0.bin")
            let local = try await server.http.send(.get, "/v1/payloads/\(created.release.id)")
            #expect(local.status == 404 && local.error?.code == "not-found")
        }
    }

    @Test("unknown and unpublished payloads are 404 with a JSON error")
    func missingPayloads() async throws {
        try await withServer(try await makeServerConfiguration(.sqlite)) { server in
            #expect(try await server.http.send(.get, "/v1/payloads/nope-1234").status == 404)
            let manifest = TestSupport.manifest(version: "1.0")
            let created = try await server.admin.createRelease(
                DeployRequest(channel: "stable", manifest: manifest, signature: try ReleaseSignature.sign(manifest, privateKeyBase64: TestSupport.keys.privateKey)))
            let pending = try await server.http.send(.get, "/v1/payloads/\(created.release.id)")
            #expect(pending.status == 404 && pending.error != nil)
        }
    }
}

/// Lowercase hex of a digest.
func Hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
    bytes.map { String(format: "%02x", $0) }.joined()
}
