import FoundationEssentials
/// The one check of an http(s) URL with a host: the device's `[update]
/// server`, the admin client's `--server`, the server's `--public-url`.
public enum HTTPURL {
    public static func parse(_ text: String) -> URL? {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty
        else { return nil }
        return url
    }
}
