import Foundation
import SlotServer
import SlotWire

/// A real server on a free loopback port plus the clients a test needs:
/// raw HTTP, the admin client (URLSession) and a deployer with the test key.
struct TestServer: Sendable {
    let running: RunningServer
    let configuration: ServerConfiguration

    var http: HTTP { HTTP(port: running.port) }
    var admin: AdminClient { try! AdminClient(server: running.baseURL, token: TestSupport.adminToken) }

    static func start(_ configuration: ServerConfiguration) async throws -> TestServer {
        TestServer(running: try await RunningServer.start(
                configuration: configuration, logger: TestSupport.logger, executor: ServerExecutor.shared), configuration: configuration)
    }

    func stop() async throws { try await running.shutdown() }

    /// Deploys a generated image through the real admin path (sign, create, stream upload).
    @discardableResult
    func deploy(
        version: String, size: Int = 4096, rollout: Double? = nil, channel: String = "stable", compatible: String = "acme-gw",
        gzip: Bool = false, experiment: ExperimentArm? = nil, seed: UInt64? = nil, maxInTrial: Int? = nil
    ) async throws -> ReleaseInfo {
        let image = try TestSupport.makeImage(
            in: configuration.dataDirectory, size: size, seed: seed ?? version.utf8.reduce(7) { $0 &* 31 &+ UInt64($1) })
        defer { TestSupport.remove(image) }
        var options = Deployer.Options(imagePath: image, compatible: compatible, channel: channel, version: version)
        options.rolloutPercent = rollout
        options.gzip = gzip
        options.experiment = experiment
        options.maxInTrial = maxInTrial
        return try await Deployer(client: admin, privateKeyBase64: TestSupport.keys.privateKey).deploy(options)
    }

    /// The release offered to each client id (nil for 204), via real checks.
    func answers(for clientIds: [String], version: String = "0.9") async throws -> [String: String?] {
        try await http.offers(for: clientIds, version: version)
    }
}

/// Runs `body` with a started server, stopped afterwards even when the test fails.
func withServer<T>(_ configuration: ServerConfiguration, _ body: (TestServer) async throws -> T) async throws -> T {
    let server = try await TestServer.start(configuration)
    do {
        let result = try await body(server)
        try await server.stop()
        return result
    } catch {
        try? await server.stop()
        throw error
    }
}
