import Foundation
import PostgresNIO

/// `postgres://user:password@host:port/database?sslmode=disable|prefer|require`,
/// parsed into a PostgresNIO client configuration.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    public enum TLSMode: String, Sendable { case disable, prefer, require }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String?
    public var tls: TLSMode

    public init(_ text: String) throws(ServerError) {
        guard let components = URLComponents(string: text),
            let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme)
        else {
            throw ServerError(.configuration, "not a postgres:// URL: \(Self.redact(text))")
        }
        guard let host = components.host, !host.isEmpty else {
            throw ServerError(.configuration, "the database URL names no host: \(Self.redact(text))")
        }
        guard let user = components.user, !user.isEmpty else {
            throw ServerError(.configuration, "the database URL names no user: \(Self.redact(text))")
        }
        self.host = host
        self.port = components.port ?? 5432
        self.username = user.removingPercentEncoding ?? user
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        self.database = path.isEmpty ? nil : path
        let mode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "disable"
        guard let tls = TLSMode(rawValue: mode) else {
            throw ServerError(.configuration, "sslmode must be disable, prefer or require, got '\(mode)'")
        }
        self.tls = tls
    }

    /// The URL without its password, for logs and errors.
    public var description: String {
        "postgres://\(username)@\(host):\(port)/\(database ?? "")?sslmode=\(tls.rawValue)"
    }

    var clientConfiguration: PostgresClient.Configuration {
        let tlsConfiguration: PostgresClient.Configuration.TLS =
            switch tls {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tlsConfiguration)
        configuration.options.maximumConnections = 8
        return configuration
    }

    private static func redact(_ text: String) -> String {
        guard var components = URLComponents(string: text) else { return "(unparseable)" }
        if components.password != nil { components.password = "***" }
        return components.string ?? "(unparseable)"
    }
}
