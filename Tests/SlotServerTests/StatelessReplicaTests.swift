import Crypto
import Foundation
import Hummingbird
import SlotServer
import SlotWire
import Testing

/// Stateless replicas: two instances with nothing in common but PostgreSQL
/// (each its own data directory): payloads kept as rows of the database, and
/// one online key.
@Suite("Replicas that share nothing but PostgreSQL", .serverThreads)
struct StatelessReplicaTests {
    @Test("a payload uploaded through one replica downloads from the other, whole and by Range; a bad upload leaves no row",
          .enabled(if: PostgresTestDatabase.isConfigured, PostgresTestDatabase.skipReason))
    func payloadFromAnotherReplica() async throws {
        let databaseURL = try await PostgresTestDatabase.create()
        let first = try await makeServerConfiguration(.postgres, databaseURL: databaseURL)
        let second = try await makeServerConfiguration(.postgres, databaseURL: databaseURL)
        #expect(first.dataDirectory != second.dataDirectory && first.effectivePayloadStorage == .database)
        defer { TestSupport.remove(first.dataDirectory); TestSupport.remove(second.dataDirectory) }
        try await withServer(first) { a in
            try await withServer(second) { b in
                // Two and a half chunks and a few bytes: every read below crosses or ends at a chunk boundary.
                let mib = 1 << 20
                let size = 2 * mib + mib / 2 + 123
                let imagePath = try TestSupport.makeImage(in: a.configuration.dataDirectory, size: size, seed: 41)
                let image = [UInt8](try Data(contentsOf: URL(fileURLWithPath: imagePath)))

                // A tampered upload through A: refused, and not a row of it stays.
                let prepared = try ImagePreparer.prepare(imagePath: imagePath, compatible: "acme-gw", version: "1.0", securityVersion: 1, gzip: false)
                let deploy = DeployRequest(
                    channel: "stable", manifest: prepared.manifest,
                    signature: try ReleaseSignature.sign(prepared.manifest, privateKeyBase64: TestSupport.keys.privateKey), rolloutPercent: 100)
                let created = try await a.http.post("/v1/releases", json: deploy, headers: HTTP.admin).json(DeployResponse.self)
                var tampered = image
                tampered[size - 7] ^= 0x01  // in the last chunk, after two full ones went in
                let refused = try await a.http.send(.put, created.uploadPath!, headers: HTTP.admin, body: tampered)
                #expect(refused.status == 400 && refused.error?.message.contains("the manifest says") == true, "\(refused.text)")
                #expect(try await PostgresTestDatabase.number(databaseURL, "SELECT COUNT(*) FROM payload_uploads") == 0)
                #expect(try await PostgresTestDatabase.number(databaseURL, "SELECT COUNT(*) FROM payload_chunks") == 0)

                let accepted = try await a.http.send(.put, created.uploadPath!, headers: HTTP.admin, body: image)
                #expect(accepted.status == 200, "\(accepted.text)")
                let release = try accepted.json(ReleaseInfo.self)
                #expect(try await PostgresTestDatabase.number(databaseURL, "SELECT COUNT(*) FROM payload_chunks") == 3)
                // Neither instance wrote the payload to its own directory.
                for configuration in [first, second] {
                    #expect(try FileManager.default.contentsOfDirectory(atPath: configuration.dataDirectory + "/payloads").isEmpty)
                }

                // B serves it: B never saw the upload and has none of it on disk.
                let path = "/v1/payloads/\(release.id)"
                let etag = "\"\(Hex(SHA256.hash(data: image)))\""
                try await eventually { try await b.http.send(.head, path).status == 200 }
                let full = try await b.http.send(.get, path)
                #expect(full.status == 200 && full.body == image && full.headers[.eTag] == etag)
                #expect(full.headers[.contentLength] == String(size))
                let head = try await b.http.send(.head, path)
                #expect(head.status == 200 && head.body.isEmpty && head.headers[.contentLength] == String(size))
                let cases: [(String, Range<Int>)] = [
                    ("bytes=0-99", 0..<100),
                    ("bytes=\(mib - 10)-\(mib + 9)", (mib - 10)..<(mib + 10)),  // across the first boundary
                    ("bytes=\(mib)-\(2 * mib - 1)", mib..<(2 * mib)),  // exactly the second chunk
                    ("bytes=\(mib / 2)-\(2 * mib + 1000)", (mib / 2)..<(2 * mib + 1001)),  // three chunks
                    ("bytes=-123", (size - 123)..<size),  // the short tail of the last chunk
                    ("bytes=\(2 * mib)-", (2 * mib)..<size),
                ]
                for (header, expected) in cases {
                    let answer = try await b.http.send(.get, path, headers: [.range: header])
                    #expect(answer.status == 206, "\(header)")
                    #expect(answer.headers[.contentRange] == "bytes \(expected.lowerBound)-\(expected.upperBound - 1)/\(size)", "\(header)")
                    #expect(answer.body == Array(image[expected]), "\(header)")
                }
                let unsatisfiable = try await b.http.send(.get, path, headers: [.range: "bytes=\(size)-"])
                #expect(unsatisfiable.status == 416)
                let staleIfRange = try await b.http.send(.get, path, headers: [.range: "bytes=0-9", .ifRange: "\"other\""])
                #expect(staleIfRange.status == 200 && staleIfRange.body == image)

                // And the device that B offers it to gets it from B.
                let offered = try await b.http.check("replica-device").json(Release.self)
                #expect(offered.id == release.id && offered.sha256 == prepared.manifest.sha256)
            }
        }
    }

    @Test("replicas with their own data directories sign freshness with one key, kept in the database",
          .enabled(if: PostgresTestDatabase.isConfigured, PostgresTestDatabase.skipReason))
    func onlineKeyFromTheDatabase() async throws {
        let databaseURL = try await PostgresTestDatabase.create()
        var configurations: [ServerConfiguration] = []
        for _ in 0..<2 {
            var configuration = try await makeServerConfiguration(.postgres, databaseURL: databaseURL)
            configuration.onlineKeyInStore = true
            configurations.append(configuration)
        }
        defer { for configuration in configurations { TestSupport.remove(configuration.dataDirectory) } }
        try await withServer(configurations[0]) { a in
            try await withServer(configurations[1]) { b in
                let published = try configurations.map { try String(contentsOfFile: $0.dataDirectory + "/online.pub", encoding: .utf8) }
                #expect(published[0] == published[1], "both replicas publish the same public key")
                let key = try ReleaseSignature.publicKey(fromBase64: published[0].trimmingCharacters(in: .whitespacesAndNewlines))
                for server in [a, b] {
                    let answer = try await server.http.check("any-device")
                    let header = try #require(answer.headers[HTTPFields.Element.Name(FreshnessStatement.headerName)!])
                    let statement = try FreshnessStatement.verified(header: header, publicKey: key)
                    #expect(statement.expiresAt > Int64(Date().timeIntervalSince1970))
                }
            }
        }
        // A restart keeps the key: devices that pinned it go on accepting answers.
        try await withServer(configurations[1]) { _ in
            let again = try String(contentsOfFile: configurations[1].dataDirectory + "/online.pub", encoding: .utf8)
            #expect(again == (try String(contentsOfFile: configurations[0].dataDirectory + "/online.pub", encoding: .utf8)))
        }
    }

    @Test("--payloads database on SQLite is refused at start, naming the flag")
    func databasePayloadsNeedPostgres() async throws {
        var configuration = try await makeServerConfiguration(.sqlite)
        defer { TestSupport.remove(configuration.dataDirectory) }
        configuration.payloadStorage = .database
        let error = await #expect(throws: ServerError.self) { try await withServer(configuration) { _ in } }
        #expect(error?.code == .configuration && error?.message.contains("--payloads database") == true)
    }
}
