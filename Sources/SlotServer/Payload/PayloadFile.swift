import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A payload being received: an exclusive temp file written with plain
/// `write(2)` calls (page-cache writes; the one blocking fsync happens in
/// ``PayloadDirectory``'s commit, on its own thread).
final class PayloadFile {
    let path: String
    private var fd: Int32

    init(creating path: String) throws(ServerError) {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            throw ServerError.io("cannot create \(path)", cause: POSIXErrorCode(rawValue: errno).map { POSIXError($0) })
        }
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(ServerError) {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw ServerError.io("writing \(path) failed", cause: POSIXErrorCode(rawValue: errno).map { POSIXError($0) })
            }
            offset += n
        }
    }

    /// Closes the descriptor; the file stays for ``PayloadDirectory`` to publish or remove.
    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }
}
