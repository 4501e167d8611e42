import Crypto
import Foundation
import SlotCodec
import SlotServer
import SlotWire
import Testing

/// The deploy side of delta updates: the chunked gzip payload is ordinary
/// gzip, every run of chunks in it inflates on its own from the image bytes
/// before it, and the index survives encoding and refuses what cannot be one.
@Suite struct ChunkIndexTests {
    /// An image with zeros, repeats and noise: chunks that compress, repeat and do not.
    static func image(_ size: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        var out = [UInt8](repeating: 0, count: size)
        for i in 0..<size {
            switch (i / 4096) % 5 {
            case 0: out[i] = 0
            case 1: out[i] = UInt8(truncatingIfNeeded: i % 251)
            default:
                state = state &* 6364136223846793005 &+ 1442695040888963407
                out[i] = UInt8(truncatingIfNeeded: state >> 33) & ((i / 4096) % 5 == 2 ? 0x0f : 0xff)
            }
        }
        return out
    }

    static func prepare(_ image: [UInt8], gzip: Bool, chunkSize: Int = 4096, blockSize: Int? = nil) throws -> (PreparedPayload, [UInt8]) {
        let directory = NSTemporaryDirectory() + "chunk-index-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/image"
        FileManager.default.createFile(atPath: path, contents: Data(image))
        let prepared = try ImagePreparer.prepare(
            imagePath: path, compatible: "acme", version: "1", securityVersion: 0, gzip: gzip, chunkSize: chunkSize,
            blockSize: blockSize, temporaryDirectory: directory)
        let payload = [UInt8](try Data(contentsOf: URL(fileURLWithPath: prepared.payloadPath)))
        return (prepared, payload)
    }

    @Test("the chunked payload is plain gzip and every run of chunks inflates alone", arguments: [(4096, 4096), (1024, 1024), (4096, 1024)])
    func chunkRunsInflateAlone(chunkSize: Int, blockSize: Int) throws {
        let image = Self.image(3 * 1024 * 1024 + 1234, seed: 7)
        let (prepared, payload) = try Self.prepare(image, gzip: true, chunkSize: chunkSize, blockSize: blockSize)
        // gzip -d reads it as one stream.
        var whole: [UInt8] = []
        let inflater = try GzipInflater()
        try payload.withUnsafeBytes { try inflater.inflate($0, wrap: { $0 }) { (bytes) throws(CodecError) in whole += bytes } }
        try inflater.finish()
        #expect(whole == image)
        #expect(UInt64(payload.count) == prepared.manifest.payloadSize)

        let index = try #require(prepared.index)
        #expect(index.count == (image.count + chunkSize - 1) / chunkSize && index.blockSize == blockSize)
        #expect(index.matches(prepared.manifest))
        let parsed = try ChunkIndex(parsing: index.encoded())
        #expect(parsed == index)

        let runInflater = try ChunkInflater()
        for run in [0..<1, 1..<2, 5..<9, 100..<101, (index.count - 3)..<index.count] {
            let payloadRange = index.payloadRange(run)
            let imageStart = Int(index.imageRange(run.lowerBound).lowerBound)
            let imageEnd = Int(index.imageRange(run.upperBound - 1).upperBound)
            let history = Array(image[max(0, imageStart - ChunkInflater.window)..<imageStart])
            var out = [UInt8](repeating: 0, count: imageEnd - imageStart)
            try Array(payload[Int(payloadRange.lowerBound)..<Int(payloadRange.upperBound)]).withUnsafeBytes { input in
                try history.withUnsafeBytes { history in
                    try out.withUnsafeMutableBytes { try runInflater.inflate(input, history: history, into: $0) }
                }
            }
            #expect(out == Array(image[imageStart..<imageEnd]), "run \(run)")
            for chunk in run {
                let range = index.imageRange(chunk)
                let hash = Array(image[Int(range.lowerBound)..<Int(range.upperBound)]).withUnsafeBytes { ChunkHash(of: $0, blockSize: blockSize) }
                #expect(hash == index.hash(chunk))
            }
        }
    }

    @Test("an uncompressed payload's index points at the image bytes")
    func uncompressedIndex() throws {
        let image = Self.image(100_000, seed: 3)
        let (prepared, payload) = try Self.prepare(image, gzip: false)
        #expect(payload == image)
        let index = try ChunkIndex(parsing: try #require(prepared.index).encoded())
        #expect(index.compression == .none && index.count == 25)
        #expect(index.payloadRange(24..<25) == 98304..<100_000)
    }

    @Test("a chunk's hash is found from block digests wherever it sits at a block boundary")
    func chunkHashFromBlockDigests() throws {
        let blockSize = 1024
        let image = Self.image(64 * 1024, seed: 9)
        // The old slot: the same bytes moved by three blocks.
        let old = [UInt8](repeating: 0xa5, count: 3 * blockSize) + image
        var digests: [UInt8] = []
        old.withUnsafeBytes { BlockDigests.append($0, blockSize: blockSize, to: &digests) }
        #expect(digests.count == old.count / blockSize * BlockDigests.length)
        for chunk in [0, 5, 14] {
            let range = chunk * 4096..<(chunk + 1) * 4096
            let hash = Array(image[range]).withUnsafeBytes { ChunkHash(of: $0, blockSize: blockSize) }
            let block = range.lowerBound / blockSize + 3
            let window = digests.withUnsafeBytes {
                ChunkHash(digests: UnsafeRawBufferPointer(rebasing: $0[block * BlockDigests.length..<(block + 4) * BlockDigests.length]))
            }
            #expect(window == hash, "chunk \(chunk)")
            let shifted = digests.withUnsafeBytes {
                ChunkHash(digests: UnsafeRawBufferPointer(rebasing: $0[(block + 1) * BlockDigests.length..<(block + 5) * BlockDigests.length]))
            }
            #expect(shifted != hash)
        }
        // The same bytes cut in other blocks are another chunk.
        let whole = Array(image[0..<4096]).withUnsafeBytes { ChunkHash(of: $0, blockSize: 4096) }
        #expect(whole != Array(image[0..<4096]).withUnsafeBytes { ChunkHash(of: $0, blockSize: 1024) })
    }

    @Test("the block size comes from an ext2/3/4 superblock, else 4 KiB, never above the chunk")
    func blockSizeDetection() throws {
        var ext = Self.image(256 * 1024, seed: 4)
        for i in 1024..<2048 { ext[i] = 0 }
        ext[1024 + 56] = 0x53
        ext[1024 + 57] = 0xEF
        #expect(try #require(Self.prepare(ext, gzip: true).0.index).blockSize == 1024)  // s_log_block_size 0
        ext[1024 + 24] = 1
        #expect(try #require(Self.prepare(ext, gzip: true).0.index).blockSize == 2048)
        ext[1024 + 24] = 2
        #expect(try #require(Self.prepare(ext, gzip: true, chunkSize: 1024).0.index).blockSize == 1024)  // capped
        ext[1024 + 57] = 0
        #expect(try #require(Self.prepare(ext, gzip: true, chunkSize: 16384).0.index).blockSize == 4096)  // no file system
        #expect(try #require(Self.prepare(ext, gzip: false, blockSize: 512).0.index).blockSize == 512)
        #expect(throws: ServerError.self) { try Self.prepare(ext, gzip: true, chunkSize: 4096, blockSize: 8192) }
        #expect(throws: ServerError.self) { try Self.prepare(ext, gzip: true, chunkSize: 4096, blockSize: 1000) }
    }

    @Test("malformed indexes are refused with a reason")
    func malformedIndexes() throws {
        let image = Self.image(64 * 1024, seed: 5)
        let (prepared, _) = try Self.prepare(image, gzip: true)
        let good = try #require(prepared.index).encoded()
        func refused(_ bytes: [UInt8], _ why: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(throws: WireError.self, "\(why)", sourceLocation: sourceLocation) { try ChunkIndex(parsing: bytes) }
        }
        refused([], "empty")
        refused(Array(good.prefix(47)), "short header")
        refused(Array(good.prefix(good.count - 5)), "cut body")
        var magic = good
        magic[0] ^= 1
        refused(magic, "bad magic")
        var chunkSize = good
        chunkSize[13] = 0x11  // 0x1100 + low byte: not a power of two
        refused(chunkSize, "chunk size")
        var blockSize = good
        blockSize[17] = 0x01  // 256: below 512
        refused(blockSize, "block size below 512")
        blockSize[17] = 0x20  // 8 KiB: above the 4 KiB chunk
        refused(blockSize, "block size above the chunk size")
        var count = good
        count[44] &+= 1
        refused(count, "count does not make the image")
        var payload = good
        for i in 28..<36 { payload[i] = 0 }
        payload[28] = 20
        refused(payload, "chunks past the payload's end")
        var compression = good
        compression[8] = 7
        refused(compression, "unknown compression")
        refused(good + [1], "trailing garbage")
    }
}

/// The server keeps and serves a release's chunk index, and refuses one that
/// is not signed with the release key, not the bytes described, or not an
/// index of this release's image and payload.
@Suite(.serverThreads) struct ChunkIndexDeployTests {
    @Test("a deployed index is served, named in the check answer, and bad ones are refused", arguments: StoreKind.allCases)
    func deployAndServe(store: StoreKind) async throws {
        guard store == .sqlite || PostgresTestDatabase.isConfigured else { return }
        let image = ChunkIndexTests.image(300_000, seed: 11)
        let (prepared, payload) = try ChunkIndexTests.prepare(image, gzip: true)
        let index = try #require(prepared.index).encoded()
        let sha = Hex.string(SHA256.hash(data: index))
        let key = TestSupport.keys.privateKey
        let manifest = prepared.manifest
        func request(indexSignedBy signer: String = key, data: [UInt8]? = nil, reference: ChunkIndexReference? = nil) throws -> DeployRequest {
            var deploy = DeployRequest(channel: "stable", manifest: manifest, signature: try ReleaseSignature.sign(manifest, privateKeyBase64: key))
            let size = UInt64(index.count)
            deploy.index = try reference ?? ChunkIndexReference(
                url: "", size: size, sha256: sha,
                signature: try ReleaseSignature.sign(manifest.indexSigningBytes(sha256: sha, size: size), privateKeyBase64: signer))
            deploy.indexData = Data(data ?? index).base64EncodedString()
            return deploy
        }
        try await withServer(try await makeServerConfiguration(store)) { server in
            // Refused: another key's signature, other bytes, an index of another image.
            let otherKey = ReleaseSignature.generateKeyPair().privateKey
            var answer = try await server.http.post("/v1/releases", json: try request(indexSignedBy: otherKey), headers: HTTP.admin)
            #expect(answer.status == 401 || answer.status == 400 || answer.status == 403, "\(answer.status)")
            #expect(answer.error?.message.contains("chunk index's signature") == true, "\(answer.text)")
            var tampered = index
            tampered[tampered.count - 3] ^= 1
            answer = try await server.http.post("/v1/releases", json: try request(data: tampered), headers: HTTP.admin)
            #expect(answer.status == 400 && answer.error?.message.contains("not the index the reference describes") == true, "\(answer.text)")
            let (otherPrepared, _) = try ChunkIndexTests.prepare(ChunkIndexTests.image(200_000, seed: 12), gzip: true)
            let otherIndex = try #require(otherPrepared.index).encoded()
            let otherSha = Hex.string(SHA256.hash(data: otherIndex))
            let mismatched = ChunkIndexReference(
                url: "", size: UInt64(otherIndex.count), sha256: otherSha,
                signature: try ReleaseSignature.sign(manifest.indexSigningBytes(sha256: otherSha, size: UInt64(otherIndex.count)), privateKeyBase64: key))
            answer = try await server.http.post("/v1/releases", json: try request(data: otherIndex, reference: mismatched), headers: HTTP.admin)
            #expect(answer.status == 400 && answer.error?.message.contains("another image") == true, "\(answer.text)")

            // Accepted: published with its payload, named in the answer, served byte for byte.
            let created = try await server.admin.createRelease(try request())
            let upload = try await server.http.send(.put, created.uploadPath!, headers: HTTP.admin, body: payload)
            #expect(upload.status == 200, "\(upload.text)")
            var check = try await server.http.check("delta-device", compatible: "acme")
            try await eventually {
                check = try await server.http.check("delta-device", compatible: "acme")
                return check.status == 200
            }
            let release = try check.json(Release.self)
            let reference = try #require(release.index)
            #expect(reference.sha256 == sha && reference.size == UInt64(index.count))
            #expect(reference.url.hasSuffix("/v1/indexes/\(release.id)"))
            #expect(ReleaseSignature.isValid(
                reference.signature, for: release.manifest.indexSigningBytes(sha256: reference.sha256, size: reference.size),
                publicKeyBase64: TestSupport.keys.publicKey))
            let served = try await server.http.send(.get, "/v1/indexes/\(release.id)")
            #expect(served.status == 200 && served.body == index)
            #expect(try await server.http.send(.get, "/v1/indexes/no-such-release").status == 404)
        }
    }
}
