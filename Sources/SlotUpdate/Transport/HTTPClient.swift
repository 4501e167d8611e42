import CCurl
import SlotCore

/// HTTP exchanges over libcurl's easy interface, blocking on the calling
/// thread: the head and then the body arrive in callbacks on that thread,
/// so a download hands its bytes straight to the installer without a queue
/// or a thread in between.
///
/// Why libcurl and not URLSession: URLSession on Linux brings Foundation and
/// its 39 MB of ICU data to the device, buffers without limit when the
/// consumer is slower than the network, and cannot be told which CA to
/// trust. libcurl is what FoundationNetworking runs on anyway.
///
/// One client per thread (not Sendable); it keeps its connection between
/// requests to the same server.
public final class HTTPClient {
    private let handle: UnsafeMutableRawPointer
    private let errorText = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))

    public struct Request: Sendable {
        public var method: Method
        public var url: String
        public var headers: [String]
        public var body: [UInt8]
        /// Seconds for the whole exchange; 0: no limit (a payload segment,
        /// bounded by ``stallTimeout`` instead).
        public var timeout: Double
        /// Seconds without a byte before the exchange is given up.
        public var stallTimeout: Double

        public enum Method: Sendable { case get, post }

        public init(_ method: Method, _ url: String, headers: [String] = [], body: [UInt8] = [], timeout: Double = 0, stallTimeout: Double = 30) {
            self.method = method
            self.url = url
            self.headers = headers
            self.body = body
            self.timeout = timeout
            self.stallTimeout = stallTimeout
        }
    }

    /// The status line and header fields of the final response (after redirects).
    public struct Head: Sendable {
        public let status: Int
        /// Field names in lower case, in the order received.
        public let fields: [(name: String, value: String)]

        public func value(_ name: String) -> String? {
            let wanted = name.lowercased()
            return fields.first { $0.name == wanted }?.value
        }
    }

    public enum Failure: Error {
        /// A callback refused the exchange (its error), or it was cancelled.
        case refused(SlotError)
        /// The exchange broke; `retryable` is false for what trying again cannot fix
        /// (a malformed URL, a protocol other than http(s), a certificate refused).
        case transport(message: String, retryable: Bool)
    }

    /// Where the CA bundle is that server certificates must chain to; nil: the system store.
    public let caFile: String?

    public init(caFile: String? = nil) throws(SlotError) {
        guard Self.globalInit == CURLE_OK, let handle = curl_easy_init() else {
            throw SlotError(.network, "libcurl cannot be initialised")
        }
        self.handle = handle
        self.caFile = caFile
    }

    deinit {
        curl_easy_cleanup(handle)
        errorText.deallocate()
    }

    /// curl_global_init is not thread-safe: a global's initialiser runs once.
    private static let globalInit: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

    /// One exchange. `head` sees the response head before the first byte of
    /// the body reaches `body`; either may throw to end the exchange.
    /// `isCancelled` is asked several times a second.
    public func perform(
        _ request: Request,
        isCancelled: () -> Bool = { false },
        head: (Head) throws(SlotError) -> Void,
        body: (UnsafeRawBufferPointer) throws(SlotError) -> Void
    ) throws(Failure) {
        try withoutActuallyEscaping(isCancelled) { isCancelled throws(Failure) in
            try withoutActuallyEscaping(head) { head throws(Failure) in
                try withoutActuallyEscaping(body) { body throws(Failure) in
                    let exchange = Exchange(isCancelled: isCancelled, head: head, body: body)
                    try perform(request, exchange)
                }
            }
        }
    }

    /// The whole body in memory, with the head: for small answers (API calls).
    public func fetch(_ request: Request, limit: Int = 1 << 20) throws(Failure) -> (Head, [UInt8]) {
        var received: Head?
        var data: [UInt8] = []
        try perform(request, head: { received = $0 }, body: { (bytes) throws(SlotError) in
            guard data.count + bytes.count <= limit else {
                throw SlotError(.network, "the answer from \(request.url) is larger than \(limit) bytes")
            }
            data.append(contentsOf: bytes)
        })
        return (received!, data)
    }

    private func perform(_ request: Request, _ exchange: Exchange) throws(Failure) {
        curl_easy_reset(handle)
        errorText[0] = 0
        var headers: UnsafeMutablePointer<curl_slist>?
        // curl would send "Expect: 100-continue" for larger bodies and wait for it.
        for line in request.headers + ["Expect:"] { headers = curl_slist_append(headers, line) }
        defer { curl_slist_free_all(headers) }
        let context = Unmanaged.passUnretained(exchange).toOpaque()
        let result: CURLcode = request.url.withCString { url in
            "http,https".withCString { protocols in
                request.body.withUnsafeBytes { bodyBytes in
                    var setup = [
                        ccurl_setopt_pointer(handle, CURLOPT_URL, url),
                        ccurl_setopt_pointer(handle, CURLOPT_PROTOCOLS_STR, protocols),
                        ccurl_setopt_pointer(handle, CURLOPT_REDIR_PROTOCOLS_STR, protocols),
                        ccurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 1),
                        ccurl_setopt_long(handle, CURLOPT_MAXREDIRS, 5),
                        ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1),
                        ccurl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorText),
                        ccurl_setopt_pointer(handle, CURLOPT_HTTPHEADER, headers),
                        ccurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(min(request.stallTimeout, 30) * 1000)),
                        // Fewer than 1 byte/s for stallTimeout seconds: stalled.
                        ccurl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1),
                        ccurl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, max(1, Int(request.stallTimeout.rounded(.up)))),
                        ccurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(request.timeout * 1000)),
                        ccurl_setopt_pointer(handle, CURLOPT_HEADERDATA, context),
                        ccurl_setopt_data_callback(handle, CURLOPT_HEADERFUNCTION, Exchange.onHeader),
                        ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context),
                        ccurl_setopt_data_callback(handle, CURLOPT_WRITEFUNCTION, Exchange.onBody),
                        ccurl_setopt_long(handle, CURLOPT_NOPROGRESS, 0),
                        ccurl_setopt_pointer(handle, CURLOPT_XFERINFODATA, context),
                        ccurl_setopt_progress_callback(handle, Exchange.onProgress),
                    ]
                    switch request.method {
                    case .get:
                        setup.append(ccurl_setopt_long(handle, CURLOPT_HTTPGET, 1))
                    case .post:
                        setup.append(ccurl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodyBytes.count)))
                        // An empty body still needs a pointer, or curl reads stdin.
                        setup.append(ccurl_setopt_pointer(handle, CURLOPT_POSTFIELDS, bodyBytes.baseAddress ?? UnsafeRawPointer(url)))
                    }
                    if let caFile {
                        setup.append(caFile.withCString { ccurl_setopt_pointer(handle, CURLOPT_CAINFO, $0) })  // curl copies strings
                    }
                    if let failed = setup.first(where: { $0 != CURLE_OK }) { return failed }
                    return curl_easy_perform(handle)
                }
            }
        }
        if let refusal = exchange.refusal { throw .refused(refusal) }
        guard result == CURLE_OK else {
            let detail = errorText[0] != 0 ? String(cString: errorText) : String(cString: curl_easy_strerror(result))
            throw .transport(message: detail, retryable: !Self.permanent.contains(result.rawValue))
        }
        // A body-less answer (204, an empty 200): the head was not handed over yet.
        do throws(SlotError) {
            try exchange.deliverHead()
        } catch {
            throw .refused(error)
        }
    }

    /// curl results that trying again cannot change.
    private static let permanent: Set<UInt32> = [
        CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT, CURLE_NOT_BUILT_IN, CURLE_TOO_MANY_REDIRECTS,
        CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM, CURLE_SSL_ISSUER_ERROR,
        CURLE_UNKNOWN_OPTION, CURLE_BAD_FUNCTION_ARGUMENT,
    ].map(\.rawValue).reduce(into: []) { $0.insert($1) }

    /// What curl's callbacks reach through their context pointer.
    private final class Exchange {
        let isCancelled: () -> Bool
        let head: (Head) throws(SlotError) -> Void
        let body: (UnsafeRawBufferPointer) throws(SlotError) -> Void
        var status = 0
        var fields: [(name: String, value: String)] = []
        var headDelivered = false
        /// Why a callback stopped the exchange.
        var refusal: SlotError?

        init(isCancelled: @escaping () -> Bool, head: @escaping (Head) throws(SlotError) -> Void, body: @escaping (UnsafeRawBufferPointer) throws(SlotError) -> Void) {
            self.isCancelled = isCancelled
            self.head = head
            self.body = body
        }

        static func from(_ context: UnsafeMutableRawPointer?) -> Exchange {
            Unmanaged<Exchange>.fromOpaque(context!).takeUnretainedValue()
        }

        func deliverHead() throws(SlotError) {
            guard !headDelivered else { return }
            headDelivered = true
            try head(Head(status: status, fields: fields))
        }

        /// One header line at a time; a status line starts a new response
        /// (after a redirect or a 100 Continue).
        static let onHeader: ccurl_data_callback = { bytes, size, count, context in
            let exchange = from(context)
            let length = size * count
            // The CR LF goes as bytes: as Characters "\r\n" is one, neither "\r" nor "\n".
            let raw = UnsafeRawBufferPointer(start: bytes, count: length)
            var end = length
            while end > 0, raw[end - 1] == UInt8(ascii: "\n") || raw[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            let line = String(decoding: raw[..<end], as: UTF8.self)
            if line.hasPrefix("HTTP/") {
                let parts = line.split(separator: " ", maxSplits: 2)
                exchange.status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
                exchange.fields = []
            } else if let colon = line.firstIndex(of: ":") {
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingPrefix { $0 == " " || $0 == "\t" }
                exchange.fields.append((name, String(value)))
            }
            return length
        }

        static let onBody: ccurl_data_callback = { bytes, size, count, context in
            let exchange = from(context)
            let length = size * count
            do throws(SlotError) {
                try exchange.deliverHead()
                try exchange.body(UnsafeRawBufferPointer(start: bytes, count: length))
            } catch {
                exchange.refusal = error
                return 0  // anything but `length` aborts the transfer
            }
            return length
        }

        static let onProgress: ccurl_progress_callback = { context, _, _, _, _ in
            let exchange = from(context)
            guard exchange.isCancelled() else { return 0 }
            exchange.refusal = SlotError(.cancelled, "update cancelled")
            return 1
        }
    }
}
