import Foundation
import SlotWire
#if canImport(Glibc)
import Glibc
#endif

/// `release.key` (private, mode 0600, stays with the operator) and
/// `release.pub` (what devices and `serve --release-key` hold), both base64.
public enum KeyFiles {
    /// Writes a new pair into `directory` as NAME.key and NAME.pub (`release`,
    /// or `serve`'s `online`); refuses to overwrite an existing key.
    @discardableResult
    public static func generate(into directory: String, name: String = "release") throws(ServerError) -> (privateKey: String, publicKey: String) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ServerError.io("cannot create \(directory)", cause: error)
        }
        let pair = ReleaseSignature.generateKeyPair()
        try write(pair.privateKey + "\n", to: directory + "/\(name).key", mode: 0o600)
        try write(pair.publicKey + "\n", to: directory + "/\(name).pub", mode: 0o644)
        return pair
    }

    /// The trimmed contents of a key or token file.
    public static func read(_ path: String, what: String) throws(ServerError) -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ServerError(.configuration, "cannot read the \(what) file \(path)")
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw ServerError(.configuration, "the \(what) file \(path) is empty") }
        return trimmed
    }

    /// Creates `path` exclusively with `mode` (so a private key is never briefly world-readable).
    public static func write(_ text: String, to path: String, mode: mode_t) throws(ServerError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            let code = errno
            if code == EEXIST { throw ServerError.conflict("\(path) already exists; not overwriting a key") }
            throw ServerError.io("cannot create \(path)", cause: POSIXErrorCode(rawValue: code).map { POSIXError($0) })
        }
        defer { close(fd) }
        _ = fchmod(fd, mode)
        let bytes = Array(text.utf8)
        guard Glibc.write(fd, bytes, bytes.count) == bytes.count, fsync(fd) == 0 else {
            throw ServerError.io("writing \(path) failed", cause: POSIXErrorCode(rawValue: errno).map { POSIXError($0) })
        }
    }
}
