import Crypto
import Foundation
import SlotCodec
import SlotServer
import SlotWire
import Testing

/// The server takes the gzip payloads `slotctl install` takes (SlotCodec's
/// one policy; CodecTests in SlotCoreTests judges it against `gzip -d`):
/// several members, zero padding; it refuses trailing garbage and a cut stream.
@Suite(.serverThreads) struct GzipPolicyTests {
    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        let deflater = try GzipDeflater()
        var out: [UInt8] = []
        try bytes.withUnsafeBytes { raw in
            try deflater.deflate(raw, finish: true, wrap: { $0 }) { (chunk) throws(CodecError) in out += chunk }
        }
        return out
    }

    @Test("upload of multi-member and zero-padded gzip is accepted, garbage and truncation refused")
    func uploadFollowsTheCodecPolicy() async throws {
        let image1 = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let image2 = (0..<70_001).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
        let a = try Self.gzip(image1), b = try Self.gzip(image2)
        let cases: [(String, [UInt8], Bool)] = [
            ("two members", a + b, true),
            ("zero padding", a + b + [UInt8](repeating: 0, count: 512), true),
            ("trailing garbage", a + b + Array("junk".utf8), false),
            ("truncated", a + b.prefix(b.count - 4), false),
        ]
        let image = image1 + image2
        var crc = CRC32()
        crc.update(image)
        let sha = Hex.string(SHA256.hash(data: image))
        try await withServer(try await makeServerConfiguration(.sqlite)) { server in
            for (index, (name, payload, accepted)) in cases.enumerated() {
                let manifest = ReleaseManifest(
                    compatible: "acme-gw", version: "gz-\(index)", securityVersion: 0, size: UInt64(image.count),
                    crc32: crc.hex, sha256: sha, compression: .gzip, payloadSize: UInt64(payload.count))
                let signature = try ReleaseSignature.sign(manifest, privateKeyBase64: TestSupport.keys.privateKey)
                let created = try await server.admin.createRelease(DeployRequest(channel: "stable", manifest: manifest, signature: signature))
                let response = try await server.http.send(.put, created.uploadPath!, headers: HTTP.admin, body: payload)
                #expect((response.status == 200) == accepted, "\(name): HTTP \(response.status) \(response.error?.message ?? "")")
                if !accepted {
                    #expect(response.status == 400 && response.error?.message.contains("gzip") == true, "\(name)")
                }
            }
        }
    }
}
