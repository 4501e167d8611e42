import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The payload store on disk: `DATA/payloads/<release id>` for published
/// payloads, `DATA/uploads/` for uploads in progress. Release ids are validated
/// (``Identifier``) before they ever become part of a path.
struct PayloadDirectory: Sendable {
    let root: String

    var payloads: String { root + "/payloads" }
    var uploads: String { root + "/uploads" }

    func prepare() throws(ServerError) {
        for directory in [root, payloads, uploads] {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw ServerError(.configuration, "cannot create the data directory \(directory)", cause: error)
            }
        }
        removeStaleUploads(olderThan: 24 * 3600)
    }

    func payloadPath(id: Identifier) -> String { payloads + "/" + id.value }

    func newUploadPath(id: Identifier) -> String {
        uploads + "/" + id.value + "." + UUID().uuidString.lowercased() + ".part"
    }

    /// Makes an upload durable and visible under the release id: fsync the file,
    /// rename it into `payloads/`, fsync the directory.
    func publish(_ tempPath: String, as id: Identifier) async throws(ServerError) {
        let target = payloadPath(id: id)
        let directory = payloads
        try await BlockingIO.run { () throws(ServerError) in
            try Self.fsync(path: tempPath, flags: O_RDONLY)
            if rename(tempPath, target) != 0 {
                throw ServerError.io("cannot move the upload to \(target)", cause: POSIXErrorCode(rawValue: errno).map { POSIXError($0) })
            }
            try Self.fsync(path: directory, flags: O_RDONLY | O_DIRECTORY)
        }
    }

    func remove(_ path: String) {
        unlink(path)
    }

    private static func fsync(path: String, flags: Int32) throws(ServerError) {
        let fd = open(path, flags | O_CLOEXEC)
        guard fd >= 0 else { throw ServerError.io("cannot open \(path)", cause: POSIXErrorCode(rawValue: errno).map { POSIXError($0) }) }
        defer { close(fd) }
        if Glibc.fsync(fd) != 0 {
            throw ServerError.io("fsync of \(path) failed", cause: POSIXErrorCode(rawValue: errno).map { POSIXError($0) })
        }
    }

    /// Leftovers of uploads cut off by a crash. Young ones may belong to another
    /// instance sharing the directory, so only old ones go.
    private func removeStaleUploads(olderThan seconds: TimeInterval) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: uploads) else { return }
        let now = Date()
        for name in names where name.hasSuffix(".part") {
            let path = uploads + "/" + name
            if let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                now.timeIntervalSince(modified) > seconds
            {
                unlink(path)
            }
        }
    }
}
