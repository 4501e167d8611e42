import Hummingbird

/// How a release's payload URL is formed for devices: the external URL when
/// the release has one, else `<base>/v1/payloads/<id>`, where base is
/// `--public-url` or, without it, `http://` (`https://` when the server
/// speaks TLS) plus the Host the device used.
enum PayloadURL {
    static func path(releaseId: String) -> String { "/v1/payloads/" + releaseId }

    static func base(authority: String?, configuration: ServerConfiguration) -> String {
        if let publicURL = configuration.publicURL { return publicURL }
        if let host = authority, isPlausibleHost(host) {
            return "\(configuration.scheme)://" + host
        }
        return "\(configuration.scheme)://\(configuration.host):\(configuration.port)"
    }

    /// A Host header is attacker-controlled: only host names, IPv4/IPv6 literals and ports pass.
    static func isPlausibleHost(_ host: String) -> Bool {
        (1...255).contains(host.utf8.count)
            && host.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                    || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ":")
                    || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]")
            }
    }
}
