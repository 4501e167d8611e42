import Foundation
import SlotCodec

/// Where `serve` takes its admin token from: `--admin-token-file`, else
/// `SLOT_SERVER_ADMIN_TOKEN`, else `DATA/admin-token`, generated (mode 0600)
/// on first start so that `serve` with no flags is usable and never open.
public enum AdminToken {
    public static func resolve(file: String?, environment: [String: String], dataDirectory: String) throws(ServerError) -> (token: String, source: String) {
        if let file {
            return (try KeyFiles.read(file, what: "admin token"), file)
        }
        if let value = environment["SLOT_SERVER_ADMIN_TOKEN"]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty {
            return (value, "SLOT_SERVER_ADMIN_TOKEN")
        }
        let path = dataDirectory + "/admin-token"
        if FileManager.default.fileExists(atPath: path) {
            return (try KeyFiles.read(path, what: "admin token"), path)
        }
        do {
            try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw ServerError(.configuration, "cannot create the data directory \(dataDirectory)", cause: error)
        }
        let token = RandomToken.hex256()
        try KeyFiles.write(token + "\n", to: path, mode: 0o600)
        return (token, path + " (generated)")
    }
}
