import Foundation
import SlotServer
import SlotWire
import Testing

/// The admin client's local side: key files, token files, image preparation.
@Suite("Admin tooling")
struct AdminToolTests {
    @Test("keygen writes release.key 0600 and release.pub, and never overwrites a key")
    func keygen() throws {
        let directory = TestSupport.temporaryDirectory("slot-keys")
        defer { TestSupport.remove(directory) }
        let pair = try KeyFiles.generate(into: directory + "/keys")
        let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/keys/release.key")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let privateKey = try KeyFiles.read(directory + "/keys/release.key", what: "key")
        let publicKey = try KeyFiles.read(directory + "/keys/release.pub", what: "key")
        #expect(privateKey == pair.privateKey && publicKey == pair.publicKey)
        let manifest = TestSupport.manifest(version: "1")
        #expect(ReleaseSignature.isValid(try ReleaseSignature.sign(manifest, privateKeyBase64: privateKey), for: manifest, publicKeyBase64: publicKey))
        let again = #expect(throws: ServerError.self) { try KeyFiles.generate(into: directory + "/keys") }
        #expect(again?.code == .conflict)
        #expect(try KeyFiles.read(directory + "/keys/release.key", what: "key") == privateKey)
    }

    @Test("serve generates its admin token once (0600) unless a file or the environment gives one")
    func adminToken() throws {
        let directory = TestSupport.temporaryDirectory("slot-token")
        defer { TestSupport.remove(directory) }
        let generated = try AdminToken.resolve(file: nil, environment: [:], dataDirectory: directory + "/data")
        #expect(generated.token.count >= 32)
        let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/data/admin-token")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try AdminToken.resolve(file: nil, environment: [:], dataDirectory: directory + "/data").token == generated.token)
        #expect(try AdminToken.resolve(file: nil, environment: ["SLOT_SERVER_ADMIN_TOKEN": "from-env"], dataDirectory: directory + "/data").token == "from-env")
        try "from-file\n".write(toFile: directory + "/tok", atomically: true, encoding: .utf8)
        #expect(try AdminToken.resolve(file: directory + "/tok", environment: ["SLOT_SERVER_ADMIN_TOKEN": "x"], dataDirectory: directory).token == "from-file")
    }

    @Test("deploy's image preparation: zlib CRC-32, SHA-256, and a gzip payload that inflates to the image")
    func imagePreparation() throws {
        let directory = TestSupport.temporaryDirectory("slot-prep")
        defer { TestSupport.remove(directory) }
        try Data("123456789".utf8).write(to: URL(fileURLWithPath: directory + "/check"))
        let plain = try ImagePreparer.prepare(imagePath: directory + "/check", compatible: "c", version: "1", securityVersion: 4, gzip: false)
        // The CRC-32 check value and SHA-256 of "123456789".
        #expect(plain.manifest.crc32 == "cbf43926")
        #expect(plain.manifest.sha256 == "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225")
        #expect(plain.manifest.size == 9 && plain.manifest.payloadSize == 9 && plain.payloadPath == directory + "/check")

        let image = try TestSupport.makeImage(in: directory, size: 3 << 20, seed: 5)
        let gz = try ImagePreparer.prepare(imagePath: image, compatible: "c", version: "1", securityVersion: 0, gzip: true, temporaryDirectory: directory)
        defer { unlink(gz.payloadPath) }
        #expect(gz.isTemporary && gz.manifest.compression == .gzip && gz.manifest.size == 3 << 20)
        let inflated = Process()
        inflated.executableURL = URL(fileURLWithPath: "/bin/sh")
        inflated.arguments = ["-c", "gzip -dc '\(gz.payloadPath)' | cmp - '\(image)'"]
        try inflated.run()
        inflated.waitUntilExit()
        #expect(inflated.terminationStatus == 0)
        let attributes = try FileManager.default.attributesOfItem(atPath: gz.payloadPath)
        #expect((attributes[.size] as? NSNumber)?.uint64Value == gz.manifest.payloadSize)

        let empty = directory + "/empty"
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        let zero = try ImagePreparer.prepare(imagePath: empty, compatible: "c", version: "1", securityVersion: 0, gzip: true, temporaryDirectory: directory)
        #expect(zero.manifest.size == 0 && zero.manifest.crc32 == "00000000" && zero.manifest.payloadSize == 20)
        unlink(zero.payloadPath)
    }
}
