import Crypto
import FoundationEssentials
import SlotCodec
import SlotCore
import SlotUpdate
import SlotWire

/// Every parser of untrusted bytes, as a libFuzzer target (`slot-fuzz`,
/// Fuzz/README.md) and as a replay of the corpora in the tests.
///
/// A target feeds one input to the parser the product uses, and beyond "does
/// not crash" checks what must hold of whatever the parser accepts: a decoded
/// state encodes back to itself, the fast check-request parser never accepts
/// what `JSONDecoder` would read differently, a range stays inside the payload,
/// no input is accepted as signed by a key it was not signed with. A broken
/// property stops the process (`fail`), which the fuzzer reports as a crash.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `state/state.0` and `state.1`: `StateCodec.decode`.
    case state
    /// `/etc/slotctl/system.conf`: `SystemConfig.parse` (the INI reader under it).
    case config
    /// grubenv blocks, U-Boot environment copies and `fw_env.config`.
    case bootloaderEnvironment = "bootloader-env"
    /// `install --manifest FILE` and a release's manifest fields, with the signed bytes.
    case manifest
    /// The body of `POST /v1/check`: the server's fast parser against `JSONDecoder`.
    case checkRequest = "check-request"
    /// The bytes of a connection as the server's check fast path reads them (``CheckRequestHead``).
    case checkHead = "check-head"
    /// A `Range` header against a payload size.
    case range
    /// The answer to `/v1/check` as a device reads it: release JSON, its
    /// signature and the `Slot-Freshness` statement.
    case checkAnswer = "check-answer"
    /// A payload or an image through the gzip inflater.
    case gzip
    /// The answer to `/v1/session` as a device reads it (the sealed session
    /// key), and the ticket and MAC spellings the server reads from headers.
    case sessionGrant = "session-grant"
    /// A hawkBit DDI feedback body (SWUpdate's printf-built JSON): the lenient reader.
    case ddiFeedback = "ddi-feedback"
    /// A release's chunk index as a device reads it, and the chunk inflater
    /// on bytes a payload server sent.
    case chunkIndex = "chunk-index"

    /// Runs one input. Returns normally for any input the parser handles
    /// (accepted or refused with an error); stops the process on a broken property.
    public func run(_ input: [UInt8]) {
        switch self {
        case .state: Self.state(input)
        case .config: Self.config(input)
        case .bootloaderEnvironment: Self.bootloaderEnvironment(input)
        case .manifest: Self.manifest(input)
        case .checkRequest: Self.checkRequest(input)
        case .checkHead: Self.checkHead(input)
        case .range: Self.range(input)
        case .checkAnswer: Self.checkAnswer(input)
        case .gzip: Self.gzip(input)
        case .sessionGrant: Self.sessionGrant(input)
        case .ddiFeedback: Self.ddiFeedback(input)
        case .chunkIndex: Self.chunkIndex(input)
        }
    }

    /// What the lenient reader finds agrees with `JSONDecoder` on bodies both
    /// read, when each key appears once; what it accepts is a short plain word.
    private static func ddiFeedback(_ input: [UInt8]) {
        struct Body: Decodable {
            struct Status: Decodable {
                struct Result: Decodable { var finished: String? }
                var execution: String
                var result: Result?
            }
            var status: Status
        }
        let parsed = DDIFeedback.parse(input)
        for value in [parsed?.execution, parsed?.finished].compactMap({ $0 }) {
            guard value.utf8.count <= 32, !value.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 < 0x20 }) else {
                fail("ddi-feedback accepted '\(value)'")
            }
        }
        func occurrences(_ key: String) -> Int {
            let needle = Array("\"\(key)\"".utf8)
            guard input.count >= needle.count else { return 0 }
            return (0...(input.count - needle.count)).filter { input[$0..<$0 + needle.count].elementsEqual(needle) }.count
        }
        guard let decoded = try? JSONDecoder().decode(Body.self, from: Data(input)),
            occurrences("execution") == 1, occurrences("finished") <= 1, decoded.status.execution.utf8.count <= 32,
            // The reader takes printable ASCII only (DEL and bytes above are JSON-legal, refused by design).
            decoded.status.execution.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\\") })
        else { return }
        guard parsed?.execution == decoded.status.execution else {
            fail("ddi-feedback read execution \(String(describing: parsed?.execution)), JSONDecoder \(decoded.status.execution)")
        }
    }

    static func fail(_ message: String) -> Never {
        fatalError("fuzz property broken: \(message)")
    }

    private static func state(_ input: [UInt8]) {
        roundTrip(input)
        // The same bytes as the payload of a well-formed copy: a mutated file
        // rarely gets past the CRC, and the line parser behind it is what matters.
        var sealed = StateCodec.magic
        withUnsafeBytes(of: StateCodec.formatVersion.littleEndian) { sealed += $0 }
        withUnsafeBytes(of: UInt64(7).littleEndian) { sealed += $0 }
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: input.count).littleEndian) { sealed += $0 }
        sealed += input
        withUnsafeBytes(of: CRC32.checksum(sealed).littleEndian) { sealed += $0 }
        roundTrip(sealed)
    }

    private static func roundTrip(_ input: [UInt8]) {
        guard let decoded = try? StateCodec.decode(input) else { return }
        let encoded = StateCodec.encode(decoded)
        guard let again = try? StateCodec.decode(encoded), again == decoded else {
            fail("a decoded state does not survive encode and decode")
        }
    }

    private static func config(_ input: [UInt8]) {
        let text = String(decoding: input, as: UTF8.self)
        do {
            _ = try SystemConfig.parse(path: "fuzz.conf", text: text)
        } catch {
            guard error.code == .invalidConfig, error.message.hasPrefix("fuzz.conf") else {
                fail("a bad config gave \(error.code) '\(error.message)', not an invalid-config error naming the file")
            }
        }
    }

    private static func bootloaderEnvironment(_ input: [UInt8]) {
        guard let kind = input.first else { return }
        let body = Array(input.dropFirst())
        switch kind % 4 {
        case 0:
            // A grubenv block: what parses writes back to a block that parses the same.
            guard let environment = try? GrubEnvironment.parse(body), environment.problems.isEmpty,
                let block = try? environment.encoded()
            else { return }
            guard let again = try? GrubEnvironment.parse(block), again.variables == environment.variables else {
                fail("a grubenv block does not survive parse and encode")
            }
        case 1, 2:
            // A U-Boot environment copy, single or redundant.
            _ = UBootEnvironment.decodeCopy(body, redundant: kind % 4 == 2)
            if let environment = UBootEnvironment.decodeData(body[...]),
                let data = try? environment.encodeData(capacity: max(body.count, 16))
            {
                guard let again = UBootEnvironment.decodeData(data[...]), again.variables == environment.variables else {
                    fail("a U-Boot environment does not survive decode and encode")
                }
            }
        default:
            _ = try? UBootEnvConfig.parse(path: "fw_env.config", text: String(decoding: body, as: UTF8.self))
        }
    }

    private static func manifest(_ input: [UInt8]) {
        let decoder = WireJSON.decoder()
        if let image = try? decoder.decode(ImageManifest.self, from: Data(input)) {
            _ = try? image.validate()
        }
        guard let manifest = try? decoder.decode(ReleaseManifest.self, from: Data(input)), (try? manifest.validate()) != nil else { return }
        // What is signed identifies the manifest: JSON out and back gives the same bytes.
        guard let json = try? WireJSON.encoder().encode(manifest),
            let again = try? decoder.decode(ReleaseManifest.self, from: json)
        else { fail("a valid manifest does not encode and decode") }
        guard again.signingBytes == manifest.signingBytes else { fail("a manifest's signed bytes change through JSON") }
        // Signed bytes are one line per field: no field can add a line.
        let lines = manifest.signingBytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        guard lines.count == 10 else { fail("a valid manifest's signed bytes have \(lines.count) lines, not 10") }
    }

    private static func checkRequest(_ input: [UInt8]) {
        let fast = input.withUnsafeBytes { CheckRequestParser.parse($0) }
        guard let fast else { return }
        guard let decoded = try? WireJSON.decoder().decode(CheckRequest.self, from: Data(input)) else {
            fail("the fast parser accepted a body JSONDecoder refuses")
        }
        guard decoded == fast else { fail("the fast parser read \(fast), JSONDecoder \(decoded)") }
    }

    /// A request it takes lies inside the input, ends its head with the empty
    /// line, carries no control byte in a field it read, and is framed the
    /// same with anything behind it; cut short, it is not taken.
    private static func checkHead(_ input: [UInt8]) {
        func parse(_ bytes: ArraySlice<UInt8>) -> CheckRequestHead.Framing {
            bytes.withUnsafeBytes { CheckRequestHead.parse($0, maxHead: 2048, maxBody: 4096) }
        }
        guard case .complete(let head) = parse(input[...]) else { return }
        let end = head.headLength + head.bodyLength
        guard head.headLength >= 4, end <= input.count, input[head.headLength - 4..<head.headLength].elementsEqual([13, 10, 13, 10]),
            head.headLength <= 2048 + 2, head.bodyLength <= 4096
        else { fail("check-head framed \(head.headLength)+\(head.bodyLength) of \(input.count) bytes") }
        for field in [head.host, head.device, head.time, head.session, head.mac, head.signature].compactMap({ $0 })
        where field.utf8.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 >= 0x7f }) {
            fail("check-head read a field with a control byte: \(field.debugDescription)")
        }
        guard parse(input[..<end] + Array("GET / HTTP/1.1\r\n".utf8)) == .complete(head) else {
            fail("check-head frames a request differently with bytes behind it")
        }
        guard parse(input[..<(end - 1)]) == .incomplete, parse(input[..<(head.headLength - 1)]) == .incomplete else {
            fail("check-head takes a request cut short, or refuses one it takes whole")
        }
    }

    private static func range(_ input: [UInt8]) {
        guard input.count >= 8 else { return }
        // The first 8 bytes pick the payload size (small sizes as often as large).
        let raw = input.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let size = raw % 4 == 0 ? raw >> 2 : (raw >> 2) % 4096
        let header = String(decoding: input.dropFirst(8), as: UTF8.self)
        switch ByteRange.parse(header, size: size) {
        case .full, .unsatisfiable:
            break
        case .partial(let range):
            guard range.upperBound < size else { fail("range \(range) of a \(size)-byte payload from '\(header)'") }
        }
    }

    /// The fuzzer's key pair is fixed, so a forgery (an input the verifier
    /// accepts that this key did not sign) is reproducible.
    private static let signingKey = try! Curve25519.Signing.PrivateKey(rawRepresentation: [UInt8](repeating: 7, count: 32))
    private static var publicKeyBase64: String { signingKey.publicKey.rawRepresentation.base64EncodedString() }

    /// The device's X25519 key for the session-grant target.
    static let exchangeKey = try! Curve25519.KeyAgreement.PrivateKey(rawRepresentation: [UInt8](repeating: 0x5a, count: 32))

    private static func sessionGrant(_ input: [UInt8]) {
        let text = String(decoding: input, as: UTF8.self)
        if let bytes = Hex.bytes(text), Hex.string(bytes) != text.lowercased() {
            fail("hex '\(text)' does not spell the bytes it was read as")
        }
        if let expiry = DeviceAuth.ticketExpiry(text), !text.hasPrefix("v1.\(expiry).") {
            fail("ticket '\(text)' read with expiry \(expiry)")
        }
        guard let grant = try? WireJSON.decoder().decode(SessionGrant.self, from: Data(input)) else { return }
        if (try? DeviceIdentity.openGrant(grant, exchangeKey: exchangeKey)) != nil {
            fail("a session grant opened that nobody sealed to the device's key")
        }
        // Sealed as the server seals it, it opens exactly when its ticket is well-formed, to the same key.
        let server = Curve25519.KeyAgreement.PrivateKey()
        let sessionKey = Data(SHA256.hash(data: input))
        guard let shared = try? server.sharedSecretFromKeyAgreement(with: exchangeKey.publicKey),
            let box = try? ChaChaPoly.seal(sessionKey, using: DeviceAuth.sealingKey(shared: shared, ticket: grant.ticket))
        else { fail("sealing a session key failed") }
        var sealed = grant
        sealed.serverKey = server.publicKey.rawRepresentation.base64EncodedString()
        sealed.sealedKey = box.combined.base64EncodedString()
        let opened = try? DeviceIdentity.openGrant(sealed, exchangeKey: exchangeKey)
        guard (opened == sessionKey) == (DeviceAuth.ticketExpiry(grant.ticket) != nil) else {
            fail("a properly sealed grant with ticket '\(grant.ticket)' \(opened == nil ? "did not open" : "opened")")
        }
    }

    private static func checkAnswer(_ input: [UInt8]) {
        // HEADER NUL BODY: the Slot-Freshness value, then the release JSON.
        let split = input.firstIndex(of: 0) ?? input.endIndex
        let header = String(decoding: input[..<split], as: UTF8.self)
        let body = Data(input[min(split + 1, input.endIndex)...])

        if let statement = try? FreshnessStatement.verified(header: header, publicKey: signingKey.publicKey) {
            // Only what this key signed verifies; re-signing it must give the same statement.
            guard let resigned = try? statement.signedHeader(privateKeyBase64: signingKey.rawRepresentation.base64EncodedString()),
                (try? FreshnessStatement.verified(header: resigned, publicKey: signingKey.publicKey)) == statement
            else { fail("a verified freshness statement does not verify when signed again") }
        }

        guard var release = try? WireJSON.decoder().decode(Release.self, from: body) else { return }
        let verifier = ReleaseVerifier(compatible: "fuzz", publicKey: publicKeyBase64)
        if (try? verifier.verify(release, securityFloor: 0)) != nil {
            // The input carried a valid signature of this key: only possible if it was made with it.
            guard ReleaseSignature.isValid(release.signature, for: release.manifest, publicKeyBase64: publicKeyBase64) else {
                fail("a release was accepted without a valid signature")
            }
        }
        // Signed properly, it is accepted exactly when its manifest is valid and meant for this device.
        guard let signature = try? ReleaseSignature.sign(release.manifest, privateKeyBase64: signingKey.rawRepresentation.base64EncodedString()) else {
            return
        }
        let isValid = (try? release.manifest.validate()) != nil
        release.signature = signature
        let accepted = (try? verifier.verify(release, securityFloor: 0)) != nil
        guard accepted == (isValid && release.compatible == "fuzz") else {
            fail("a release signed with the pinned key was \(accepted ? "accepted" : "refused") (manifest valid: \(isValid))")
        }
    }

    private static func chunkIndex(_ input: [UInt8]) {
        if let index = try? ChunkIndex(parsing: input) {
            // What a device relies on: chunks tile the image, their bytes lie in the payload.
            guard index.count > 0, index.imageRange(index.count - 1).upperBound == index.imageSize,
                index.payloadRange(0..<index.count).upperBound <= index.payloadSize
            else { fail("a parsed chunk index has chunks outside its image or payload") }
            for chunk in 0..<index.count where index.payloadRange(chunk..<chunk + 1).isEmpty && index.compression == .gzip {
                fail("a parsed chunk index has an empty chunk \(chunk)")
            }
            guard let again = try? ChunkIndex(parsing: index.encoded()), again == index else {
                fail("a parsed chunk index does not encode and parse back to itself")
            }
        }
        // Payload bytes from a server: the inflater refuses or fills exactly the output.
        guard input.count >= 2 else { return }
        let historyLength = min(Int(input[0]) * 128, input.count - 2, ChunkInflater.window)
        let outputLength = Int(input[1]) * 64 + 1
        guard let inflater = try? ChunkInflater() else { fail("zlib cannot start") }
        var output = [UInt8](repeating: 0, count: outputLength)
        let history = Array(input[2..<2 + historyLength])
        let data = Array(input[(2 + historyLength)...])
        _ = try? data.withUnsafeBytes { bytes in
            try history.withUnsafeBytes { history in
                try output.withUnsafeMutableBytes { try inflater.inflate(bytes, history: history, into: $0) }
            }
        }
    }

    private static func gzip(_ input: [UInt8]) {
        // Inflate in two pieces (the split from the first byte), as a stream arrives.
        let cut = input.isEmpty ? 0 : Int(input[0]) % (input.count + 1)
        _ = try? inflate([Array(input[..<cut]), Array(input[cut...])], limit: 64 << 20)
        // What deflate makes, inflate gives back.
        let restored: [UInt8]
        do {
            restored = try inflate([deflate(input)], limit: .max)
        } catch {
            fail("deflate then inflate failed: \(error)")
        }
        guard restored == input else { fail("deflate then inflate changed \(input.count) bytes") }
    }

    private static func inflate(_ pieces: [[UInt8]], limit: Int) throws -> [UInt8] {
        let inflater = try GzipInflater()
        var output: [UInt8] = []
        for piece in pieces {
            try piece.withUnsafeBytes { bytes in
                try inflater.inflate(bytes, wrap: { $0 }) { (out) throws(CodecError) in
                    guard output.count + out.count <= limit else { throw CodecError(.corrupt, "more than \(limit) bytes") }
                    output += out
                }
            }
        }
        try inflater.finish()
        return output
    }

    private static func deflate(_ input: [UInt8]) throws -> [UInt8] {
        let deflater = try GzipDeflater()
        var output: [UInt8] = []
        try input.withUnsafeBytes { bytes in
            try deflater.deflate(bytes, finish: true, wrap: { $0 }) { (out) throws(CodecError) in output += out }
        }
        return output
    }
}
