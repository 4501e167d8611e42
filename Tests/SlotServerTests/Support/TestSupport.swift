import Foundation
import Logging
import SlotServer
import SlotWire

/// Small helpers shared by the server tests: temp dirs, quiet loggers, keys, images.
enum TestSupport {
    static func temporaryDirectory(_ label: String = "slot-server-test") -> String {
        var template = Array("\(NSTemporaryDirectory())/\(label).XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { buffer in String(cString: mkdtemp(buffer.baseAddress!)) }
        return path
    }

    static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Quiet unless `SLOT_TEST_LOG` is set (then warnings and worse).
    static var logger: Logger {
        var logger = Logger(label: "slot-server-test")
        logger.logLevel = ProcessInfo.processInfo.environment["SLOT_TEST_LOG"] != nil ? .warning : .critical
        return logger
    }

    /// One signing key for the whole test run (keys are not what is under test here).
    static let keys = ReleaseSignature.generateKeyPair()
    static let adminToken = "test-admin-token-0123456789"

    /// A file of `size` pseudo-random bytes (deterministic per seed).
    static func makeImage(in directory: String, size: Int, seed: UInt64 = 1) throws -> String {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        var bytes = [UInt8](repeating: 0, count: size)
        for i in 0..<size {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            // Every 4 KiB block repeats a little, so gzip has something to do.
            bytes[i] = (i / 64) % 3 == 0 ? UInt8(i & 0x3f) : UInt8(truncatingIfNeeded: state)
        }
        let path = directory + "/image-\(seed)-\(size).bin"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A manifest and its signature for an image that need not exist (store and rollout tests).
    static func manifest(version: String, compatible: String = "acme-gw", size: UInt64 = 1024) -> ReleaseManifest {
        ReleaseManifest(
            compatible: compatible, version: version, securityVersion: 1, size: size, crc32: "0badcafe",
            sha256: String(repeating: "ab", count: 32), compression: .none, payloadSize: size)
    }

    static func record(
        id: String, version: String, channel: String = "stable", compatible: String = "acme-gw", rolloutBasisPoints: Int = 10_000,
        experiment: ExperimentSlot? = nil, createdAt: Int64 = 1_000
    ) -> ReleaseRecord {
        let manifest = manifest(version: version, compatible: compatible)
        return ReleaseRecord(
            id: id, channel: channel, manifest: manifest,
            signature: try! ReleaseSignature.sign(manifest, privateKeyBase64: keys.privateKey), externalURL: nil,
            payloadSHA256: nil, rolloutBasisPoints: rolloutBasisPoints, experiment: experiment, createdAtMillis: createdAt)
    }
}

/// Whether `observed` successes out of `trials` are within `sigmas` standard
/// deviations of a binomial with success probability `p`.
func withinBinomialMargin(_ observed: Int, trials: Int, p: Double, sigmas: Double = 4) -> Bool {
    let n = Double(trials)
    let sigma: Double = (n * p * (1 - p)).squareRoot()
    return abs(Double(observed) - n * p) <= sigmas * sigma
}
