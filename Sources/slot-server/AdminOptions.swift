import ArgumentParser
import Foundation
import SlotServer

/// How every admin subcommand finds and authenticates to the server.
struct AdminOptions: ParsableArguments {
    @Option(help: "Server base URL (default: $SLOT_SERVER_URL or http://127.0.0.1:8080).")
    var server: String?

    @Option(help: "Admin token (default: $SLOT_SERVER_ADMIN_TOKEN, else --token-file).")
    var token: String?

    @Option(help: "File holding the admin token (default: ./slot-server-data/admin-token when present).")
    var tokenFile: String?

    func client() throws(ServerError) -> AdminClient {
        let environment = ProcessInfo.processInfo.environment
        let url = server ?? environment["SLOT_SERVER_URL"] ?? "http://127.0.0.1:8080"
        var resolved = token ?? environment["SLOT_SERVER_ADMIN_TOKEN"]
        if resolved == nil {
            let file = tokenFile ?? "./slot-server-data/admin-token"
            if tokenFile != nil || FileManager.default.fileExists(atPath: file) {
                resolved = try KeyFiles.read(file, what: "admin token")
            }
        }
        return try AdminClient(server: url, token: resolved ?? "")
    }
}

/// JSON for `--json` output: the API's own encoding, pretty-printed.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
