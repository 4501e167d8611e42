import ArgumentParser
import Foundation
import Logging
import SlotServer
import SlotWire

/// `slot-server serve`: with no flags, SQLite and payloads under
/// ./slot-server-data on 127.0.0.1:8080.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the update server.")

    @Option(help: "Address to listen on, HOST:PORT ([::1]:PORT for IPv6).")
    var listen = "127.0.0.1:8080"

    @Option(help: "PEM certificate chain (the server's certificate first): serve HTTPS. Needs --tls-key.")
    var tlsCert: String?

    @Option(help: "PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(help: "Directory for the SQLite database, payloads and the generated admin token.")
    var data = "./slot-server-data"

    @Option(help: "postgres://user:pass@host:port/db[?sslmode=require] to share one PostgreSQL between instances (default: SQLite in --data).")
    var database: String?

    @Option(help: "Where uploaded payloads live: 'database' (PostgreSQL rows: replicas share nothing else) or 'directory' (--data/payloads). Default: database with --database, else directory.")
    var payloads: String?

    @Option(help: "Serve hawkBit's DDI API for SWUpdate devices (suricatta), all on this compatible: the releases they get.")
    var ddiCompatible: String?

    @Option(help: "The channel of DDI devices.")
    var ddiChannel = "stable"

    @Option(help: "The tenant DDI devices name (suricatta's -t), matched case-insensitively.")
    var ddiTenant = "DEFAULT"

    @Option(help: "File holding a GatewayToken every DDI device may use (default: target tokens only, from 'slot-server ddi-token ID').")
    var ddiGatewayTokenFile: String?

    @Option(help: "Seconds between DDI polls, told to devices (config.polling.sleep).")
    var ddiPoll = 300

    @Option(help: "File holding the admin bearer token (default: $SLOT_SERVER_ADMIN_TOKEN, else DATA/admin-token, generated).")
    var adminTokenFile: String?

    @Option(help: "Base URL of payload URLs handed to devices (default: http:// plus the Host the device used).")
    var publicURL: String?

    @Option(help: "Base64 Ed25519 public key file (release.pub); deploys whose signature does not verify are refused.")
    var releaseKey: String?

    @Option(help: "Base64 Ed25519 private key that signs the freshness statement on every check answer (default: DATA/online.key, generated with DATA/online.pub; with --database and no DATA/online.key, a key kept in the database, which every replica shares, its public half written to DATA/online.pub).")
    var onlineKey: String?

    @Option(help: "Seconds a freshness statement stays valid: how long a frozen or replaying server can hold a device back.")
    var freshness: Int64 = 300

    @Option(help: "Checks (and, separately, event batches) a device may send: this many at once, then this many a minute; 0: no limit.")
    var deviceRate: Double = 10

    @Option(help: "Checks (and, separately, event batches) one address may send a second (twice that at once); 0: no limit. Mind NAT gateways.")
    var addressRate: Double = 100

    @Flag(help: "Serve checks and events without device credentials (labs): anyone can then speak for any client id, pause a rollout with made-up reports and learn what any device is offered.")
    var allowAnonymousDevices = false

    @Option(help: "Largest payload upload accepted, in bytes.")
    var maxPayloadSize: UInt64 = 8 << 30

    @Option(help: "Auto-pause when more than this percentage of reporting devices fell back or failed.")
    var autoPausePercent: Double = 5

    @Option(help: "Auto-pause only once at least this many devices reported on a release.")
    var autoPauseMinReports = 20

    @Option(help: "Seconds between writes of batched device check-ins (and at shutdown).")
    var flushInterval: Double = 5

    @Option(help: "Seconds between reloads of the release catalog (how fast replicas converge).")
    var refreshInterval: Double = 1

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func run() async throws {
        do throws(ServerError) {
            let configuration = try makeConfiguration()
            var logger = Logger(label: "slot-server")
            logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            try await SlotServerApp.run(configuration: configuration, logger: logger) { port in
                printErr("slot-server: listening on \(configuration.scheme)://\(configuration.host):\(port)")
            }
        } catch {
            throw exitWith(error)
        }
    }

    func makeConfiguration() throws(ServerError) -> ServerConfiguration {
        let environment = ProcessInfo.processInfo.environment
        let (token, source) = try AdminToken.resolve(file: adminTokenFile, environment: environment, dataDirectory: data)
        var configuration = ServerConfiguration(adminToken: token)
        (configuration.host, configuration.port) = try Self.parseListen(listen)
        configuration.dataDirectory = data
        switch (tlsCert, tlsKey) {
        case (let cert?, let key?): configuration.tls = .init(certificateChain: cert, privateKey: key)
        case (nil, nil): break
        default: throw ServerError(.configuration, "--tls-cert and --tls-key go together")
        }
        if let database { configuration.database = .postgres(try PostgresURL(database)) }
        if let ddiCompatible {
            guard (1...86399).contains(ddiPoll) else { throw ServerError(.configuration, "--ddi-poll must be 1 to 86399 seconds") }
            let gateway = try ddiGatewayTokenFile.map { (file) throws(ServerError) in try KeyFiles.read(file, what: "DDI gateway token") }
            configuration.ddi = DDIConfiguration(
                tenant: ddiTenant, compatible: ddiCompatible, channel: ddiChannel, gatewayToken: gateway, pollSeconds: ddiPoll)
        } else if ddiGatewayTokenFile != nil {
            throw ServerError(.configuration, "--ddi-gateway-token-file needs --ddi-compatible")
        }
        if let payloads {
            guard let storage = PayloadStorage(rawValue: payloads) else {
                throw ServerError(.configuration, "--payloads must be 'database' or 'directory', not '\(payloads)'")
            }
            configuration.payloadStorage = storage
        }
        if let publicURL {
            guard HTTPURL.parse(publicURL) != nil else {
                throw ServerError(.configuration, "--public-url must be an http(s) URL")
            }
            configuration.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        }
        if let releaseKey {
            let key = try KeyFiles.read(releaseKey, what: "release key")
            guard (try? ReleaseSignature.publicKey(fromBase64: key)) != nil else {
                throw ServerError(.configuration, "\(releaseKey) is not a base64 Ed25519 public key (release.pub)")
            }
            configuration.releasePublicKey = key
        }
        guard autoPausePercent >= 0, autoPausePercent <= 100, autoPauseMinReports >= 1 else {
            throw ServerError(.configuration, "--auto-pause-percent must be 0 to 100 and --auto-pause-min-reports at least 1")
        }
        guard flushInterval > 0, refreshInterval > 0 else {
            throw ServerError(.configuration, "--flush-interval and --refresh-interval must be positive")
        }
        guard (30...86400).contains(freshness) else {
            throw ServerError(.configuration, "--freshness must be 30 to 86400 seconds")
        }
        configuration.freshnessLifetime = freshness
        if onlineKey == nil, database != nil, !FileManager.default.fileExists(atPath: data + "/online.key") {
            // Replicas on one database share the key through it: nothing to copy between them.
            configuration.onlineKeyInStore = true
        } else {
            let online = try OnlineKey.resolve(file: onlineKey, dataDirectory: data)
            configuration.onlineKey = online.privateKey
            printErr("slot-server: online key from \(online.source); devices pin its public half ([update] server-key): \(online.publicKey)")
        }
        guard deviceRate >= 0, addressRate >= 0 else {
            throw ServerError(.configuration, "--device-rate and --address-rate must be 0 (no limit) or positive")
        }
        configuration.rateLimits.devicePerMinute = deviceRate
        configuration.rateLimits.addressPerSecond = addressRate
        configuration.limits.payloadSize = maxPayloadSize
        configuration.allowAnonymousDevices = allowAnonymousDevices
        configuration.autoPause = AutoPausePolicy(threshold: autoPausePercent / 100, minReports: autoPauseMinReports)
        configuration.checkInFlushInterval = .milliseconds(Int64(flushInterval * 1000))
        configuration.catalogRefreshInterval = .milliseconds(Int64(refreshInterval * 1000))
        printErr("slot-server: admin token from \(source)")
        return configuration
    }

    static func parseListen(_ text: String) throws(ServerError) -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ServerError(.configuration, "--listen must be HOST:PORT, got '\(text)'")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ServerError(.configuration, "--listen must name a host, got '\(text)'") }
        return (host, port)
    }
}
