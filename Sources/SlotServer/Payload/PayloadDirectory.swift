import Foundation
import Hummingbird
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// The payload store on disk: `DATA/payloads/<release id>` for published
/// payloads, `DATA/uploads/` for uploads in progress. Release ids are validated
/// (``Identifier``) before they ever become part of a path.
struct PayloadDirectory: PayloadStore {
    let root: String
    private let fileIO = FileIO()

    init(root: String) {
        self.root = root
    }

    var payloads: String { root + "/payloads" }
    var uploads: String { root + "/uploads" }
    var description: String { payloads }

    func prepare() throws(ServerError) {
        for directory in [root, payloads, uploads] {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw ServerError(.configuration, "cannot create the data directory \(directory)", cause: error)
            }
        }
    }

    func payloadPath(id: Identifier) -> String { payloads + "/" + id.value }

    func beginUpload(_ id: Identifier) async throws(ServerError) -> any PayloadUpload {
        let path = uploads + "/" + id.value + "." + UUID().uuidString.lowercased() + ".part"
        return FileUpload(file: try PayloadFile(creating: path), target: payloadPath(id: id), directory: payloads)
    }

    func read(_ id: Identifier, range: ClosedRange<Int>, context: SlotRequestContext) async throws(ServerError) -> ResponseBody {
        do {
            return try await fileIO.loadFile(path: payloadPath(id: id), range: range, context: context)
        } catch {
            throw ServerError.notFound("the payload of release \(id) is not stored on this server")
        }
    }

    /// Leftovers of uploads cut off by a crash. Young ones may belong to another
    /// instance sharing the directory, so only old ones go.
    func removeStaleUploads() async {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: uploads) else { return }
        let now = Date()
        for name in names where name.hasSuffix(".part") {
            let path = uploads + "/" + name
            if let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                now.timeIntervalSince(modified) > PayloadChunks.staleUploadSeconds
            {
                unlink(path)
            }
        }
    }
}

/// An upload into a temp file, published by fsync, rename and a directory fsync.
private final class FileUpload: PayloadUpload {
    let file: PayloadFile
    let target: String
    let directory: String

    init(file: PayloadFile, target: String, directory: String) {
        self.file = file
        self.target = target
        self.directory = directory
    }

    func append(_ buffer: ByteBuffer) async throws(ServerError) {
        try buffer.withUnsafeReadableBytes { (bytes) throws(ServerError) in try file.write(bytes) }
    }

    func commit(size: UInt64) async throws(ServerError) {
        file.close()
        let (temp, target, directory) = (file.path, target, directory)
        try await BlockingIO.run { () throws(ServerError) in
            try Self.fsync(path: temp, flags: O_RDONLY)
            if rename(temp, target) != 0 {
                throw ServerError.io("cannot move the upload to \(target)", cause: POSIXErrorCode(rawValue: errno).map { POSIXError($0) })
            }
            try Self.fsync(path: directory, flags: O_RDONLY | O_DIRECTORY)
        }
    }

    func discard() async {
        file.close()
        unlink(file.path)
    }

    private static func fsync(path: String, flags: Int32) throws(ServerError) {
        let fd = open(path, flags | O_CLOEXEC)
        guard fd >= 0 else { throw ServerError.io("cannot open \(path)", cause: POSIXErrorCode(rawValue: errno).map { POSIXError($0) }) }
        defer { close(fd) }
        if Glibc.fsync(fd) != 0 {
            throw ServerError.io("fsync of \(path) failed", cause: POSIXErrorCode(rawValue: errno).map { POSIXError($0) })
        }
    }
}
