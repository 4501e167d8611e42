import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Bytes on a plain TCP socket, for what an HTTP client library will not do:
/// pipelined requests in one write, idle connections, reading until the server closes.
struct RawHTTP {
    let port: Int

    /// Sends `request` in one write and reads until the server closes the
    /// connection or `timeout` passes. Returns the bytes and whether it closed.
    func exchange(_ request: String, timeout: Duration = .seconds(10)) throws -> (text: String, closed: Bool) {
        try exchange(pieces: [request], timeout: timeout)
    }

    /// The same with the request in several writes, `pause` apart (a client
    /// on a slow link: the server sees them as separate reads).
    func exchange(pieces: [String], pause: Duration = .milliseconds(50), timeout: Duration = .seconds(10)) throws -> (text: String, closed: Bool) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        for (index, piece) in pieces.enumerated() {
            if index > 0 { Thread.sleep(forTimeInterval: Double(pause.components.attoseconds) / 1e18 + Double(pause.components.seconds)) }
            let bytes = Array(piece.utf8)
            guard bytes.isEmpty || send(fd, bytes, bytes.count, 0) == bytes.count else { throw POSIXError(.EIO) }
        }

        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return (String(decoding: received, as: UTF8.self), true) }
            received += buffer[0..<n]
        }
        return (String(decoding: received, as: UTF8.self), false)
    }

    /// The status codes of the responses in `text`, in order.
    static func statuses(_ text: String) -> [Int] {
        text.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
    }
}
