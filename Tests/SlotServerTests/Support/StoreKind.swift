import Foundation
import Logging
import PostgresNIO
import SlotServer
import Testing

/// The two storage backends every storage test runs against.
enum StoreKind: String, Sendable, CaseIterable, CustomStringConvertible {
    case sqlite
    case postgres

    var description: String { rawValue }
}

/// The PostgreSQL that `scripts/postgres-test.sh` starts: `SLOT_TEST_POSTGRES_URL`.
/// Each test gets a database of its own, so tests run in parallel without sharing rows.
enum PostgresTestDatabase {
    static let baseURL = ProcessInfo.processInfo.environment["SLOT_TEST_POSTGRES_URL"]
    static var isConfigured: Bool { baseURL != nil }
    static let skipReason: Comment =
        "SLOT_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped (scripts/postgres-test.sh runs them against a real server)"

    /// Creates an empty database and returns its URL.
    static func create() async throws -> String {
        guard let baseURL else { throw ServerError(.configuration, "SLOT_TEST_POSTGRES_URL is not set") }
        let base = try PostgresURL(baseURL)
        let name = "slot_t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let connection = try await PostgresConnection.connect(
            configuration: .init(
                host: base.host, port: base.port, username: base.username, password: base.password,
                database: base.database ?? "postgres", tls: .disable),
            id: 1, logger: TestSupport.logger)
        do {
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: TestSupport.logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
        var password = ""
        if let p = base.password { password = ":" + p }
        return "postgres://\(base.username)\(password)@\(base.host):\(base.port)/\(name)"
    }
}

extension PostgresTestDatabase {
    /// The one number `sql` selects in the database at `url` (a row count the test expects).
    static func number(_ url: String, _ sql: String) async throws -> Int64 {
        let parsed = try PostgresURL(url)
        let connection = try await PostgresConnection.connect(
            configuration: .init(
                host: parsed.host, port: parsed.port, username: parsed.username, password: parsed.password,
                database: parsed.database, tls: .disable),
            id: 2, logger: TestSupport.logger)
        defer { Task { try? await connection.close() } }
        for try await value in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestSupport.logger).decode(Int64.self) {
            return value
        }
        throw ServerError(.internal, "\(sql) selected nothing")
    }
}

/// Runs `body` with a fresh, migrated store of `kind`, torn down afterwards.
func withStore<T>(_ kind: StoreKind, _ body: (any MetadataStore) async throws -> T) async throws -> T {
    switch kind {
    case .sqlite:
        let directory = TestSupport.temporaryDirectory("slot-store")
        defer { TestSupport.remove(directory) }
        let store = try SQLiteStore(path: directory + "/test.sqlite")
        try await store.migrate()
        let result = try await body(store)
        await store.close()
        return result
    case .postgres:
        let url = try await PostgresTestDatabase.create()
        let store = PostgresStore(url: try PostgresURL(url), logger: TestSupport.logger)
        let running = Task { try await store.run() }
        defer { running.cancel() }
        try await store.migrate()
        return try await body(store)
    }
}

/// A server configuration for `kind` in a fresh data directory.
func makeServerConfiguration(_ kind: StoreKind, databaseURL: String? = nil, dataDirectory: String? = nil) async throws -> ServerConfiguration {
    var configuration = ServerConfiguration(adminToken: TestSupport.adminToken)
    configuration.port = 0
    configuration.dataDirectory = dataDirectory ?? TestSupport.temporaryDirectory("slot-data")
    configuration.releasePublicKey = TestSupport.keys.publicKey
    configuration.checkInFlushInterval = .milliseconds(100)
    configuration.catalogRefreshInterval = .milliseconds(100)
    // Rollout, store and HTTP tests speak for made-up client ids; DeviceAuthTests turn authentication on.
    configuration.allowAnonymousDevices = true
    // Rollout tests count offers by percentage alone; TrialGateTests deploy with a gate.
    configuration.defaultMaxInTrial = 0
    // Tests drive thousands of checks from one address; RateLimitTests turn the limits on.
    configuration.rateLimits.devicePerMinute = 0
    configuration.rateLimits.addressPerSecond = 0
    if kind == .postgres {
        let url: String
        if let databaseURL { url = databaseURL } else { url = try await PostgresTestDatabase.create() }
        configuration.database = .postgres(try PostgresURL(url))
    }
    return configuration
}
