import Glibc
import SlotCore

/// Several byte ranges of one payload in one request: `Range: bytes=a-b,c-d`
/// answered with `206 multipart/byteranges` (nginx, most CDNs). A delta
/// update needs a few hundred small ranges; one request per range would cost
/// a round trip each. Whether the server can is probed once (``probe``); a
/// server that cannot gets one range per request (``PayloadDownloader``).
final class MultiRangeFetcher {
    let url: String
    let payloadSize: UInt64
    private let client: HTTPClient
    private let isCancelled: () -> Bool
    private(set) var requests = 0

    /// Ranges per request at most: keeps the request header near 2 KiB.
    static let maxRanges = 64

    init(url: String, payloadSize: UInt64, client: HTTPClient, isCancelled: @escaping () -> Bool) {
        self.url = url
        self.payloadSize = payloadSize
        self.client = client
        self.isCancelled = isCancelled
    }

    /// Whether the server answers two ranges with a multipart 206.
    func probe() -> Bool {
        guard payloadSize >= 4 else { return false }
        do throws(SlotError) {
            return try fetchOnce([0..<1, 2..<3]).map(\.count) == [1, 1]
        } catch {
            if let trace = getenv("SLOTCTL_TRACE"), trace.pointee != 0 {
                try? FileDescriptor.standardError.write(Array("slotctl: trace: one range per request: \(error.message)\n".utf8))
            }
            return false
        }
    }

    /// The bytes of each range, in the order asked. Transport failures are
    /// retried a few times; a wrong answer is an error.
    func fetch(_ ranges: [Range<UInt64>]) throws(SlotError) -> [[UInt8]] {
        var attempt = 0
        while true {
            attempt += 1
            do throws(SlotError) {
                return try fetchOnce(ranges)
            } catch {
                guard error.code == .network, attempt < 4, !isCancelled() else { throw error }
                usleep(useconds_t(250_000 * attempt))
            }
        }
    }

    private func fetchOnce(_ ranges: [Range<UInt64>]) throws(SlotError) -> [[UInt8]] {
        let spec = ranges.map { "\($0.lowerBound)-\($0.upperBound - 1)" }.joined(separator: ",")
        let limit = Int(ranges.reduce(0) { $0 + $1.count }) + ranges.count * 256 + 1024
        requests += 1
        let head: HTTPClient.Head
        let body: [UInt8]
        do throws(HTTPClient.Failure) {
            (head, body) = try client.fetch(HTTPClient.Request(.get, url, headers: ["Range: bytes=" + spec], stallTimeout: 30), limit: limit)
        } catch {
            switch error {
            case .refused(let refusal): throw refusal
            case .transport(let message, _): throw SlotError(.network, "fetching chunks from \(url) failed: \(message)")
            }
        }
        guard head.status == 206 else {
            throw SlotError(.network, "the payload server answered \(ranges.count) ranges with HTTP \(head.status), not 206")
        }
        var parts: [(range: Range<UInt64>, bytes: ArraySlice<UInt8>)] = []
        let type = head.value("Content-Type") ?? ""
        if let boundary = Self.boundary(type) {
            parts = try Self.parts(body, boundary: boundary, payloadSize: payloadSize)
        } else {
            // One range answered for all: the server merged them.
            guard let range = head.value("Content-Range").flatMap({ Self.contentRange($0, payloadSize: payloadSize) }),
                range.count == body.count
            else {
                throw SlotError(.network, "the payload server's 206 has neither parts nor a matching Content-Range")
            }
            parts = [(range, body[...])]
        }
        var result: [[UInt8]] = []
        result.reserveCapacity(ranges.count)
        for wanted in ranges {
            guard let part = parts.first(where: { $0.range.lowerBound <= wanted.lowerBound && wanted.upperBound <= $0.range.upperBound }) else {
                throw SlotError(.network, "the payload server left out bytes \(wanted.lowerBound)-\(wanted.upperBound - 1)")
            }
            let start = part.bytes.startIndex + Int(wanted.lowerBound - part.range.lowerBound)
            result.append(Array(part.bytes[start..<start + Int(wanted.count)]))
        }
        return result
    }

    static func boundary(_ contentType: String) -> String? {
        let fields = contentType.split(separator: ";").map { String($0).trimmingWhitespace() }
        guard fields.first?.lowercased() == "multipart/byteranges" else { return nil }
        for field in fields.dropFirst() where field.lowercased().hasPrefix("boundary=") {
            var value = String(field.dropFirst(9))
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return value.isEmpty ? nil : value
        }
        return nil
    }

    /// `bytes a-b/total` as a half-open range inside the payload.
    static func contentRange(_ text: String, payloadSize: UInt64) -> Range<UInt64>? {
        guard let parsed = PayloadDownloader.parseContentRange(text), parsed.total == nil || parsed.total == payloadSize,
            parsed.end < payloadSize
        else { return nil }
        return parsed.start..<parsed.end + 1
    }

    /// The parts of a `multipart/byteranges` body (RFC 9110 §14.6).
    static func parts(_ body: [UInt8], boundary: String, payloadSize: UInt64) throws(SlotError) -> [(range: Range<UInt64>, bytes: ArraySlice<UInt8>)] {
        let delimiter = Array("--\(boundary)".utf8)
        let crlf: [UInt8] = [13, 10]
        var parts: [(range: Range<UInt64>, bytes: ArraySlice<UInt8>)] = []
        var at = 0
        func find(_ needle: [UInt8], from start: Int) -> Int? {
            guard needle.count <= body.count else { return nil }
            var i = start
            while i + needle.count <= body.count {
                if body[i] == needle[0] && body[i..<i + needle.count].elementsEqual(needle) { return i }
                i += 1
            }
            return nil
        }
        while true {
            guard let start = find(delimiter, from: at) else { throw SlotError(.network, "a multipart answer ends without its closing boundary") }
            at = start + delimiter.count
            if body.count >= at + 2 && body[at] == 45 && body[at + 1] == 45 { break }  // "--": the end
            guard let headersEnd = find(crlf + crlf, from: at) else { throw SlotError(.network, "a multipart part has no end of headers") }
            let headers = String(decoding: body[at..<headersEnd], as: UTF8.self)
            var range: Range<UInt64>?
            for line in headers.split(whereSeparator: \.isNewline) {
                guard let colon = line.firstIndex(of: ":"), line[..<colon].lowercased() == "content-range" else { continue }
                range = contentRange(String(line[line.index(after: colon)...]), payloadSize: payloadSize)
            }
            guard let range else { throw SlotError(.network, "a multipart part has no valid Content-Range") }
            let dataStart = headersEnd + 4
            guard dataStart + Int(range.count) <= body.count else { throw SlotError(.network, "a multipart part is cut off") }
            parts.append((range, body[dataStart..<dataStart + Int(range.count)]))
            at = dataStart + Int(range.count)
        }
        return parts
    }
}
