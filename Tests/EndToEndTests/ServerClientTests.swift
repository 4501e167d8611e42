import Foundation
import SlotCore
import SlotTestSupport
import SlotWire
import Testing

/// The product as a user runs it: `slot-server serve`, `keygen` and `deploy`
/// from one side, `slotctl check/update/boot/mark-good` on a device with
/// file-backed slots on the other, real HTTP on loopback in between.
@Suite(.serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: CLI.binDirectory + "/slot-server") && CLI.available, "build slotctl and slot-server first"))
struct ServerClientTests {
    static var slotServer: String { CLI.binDirectory + "/slot-server" }

    /// A running `slot-server serve` on a free port, killed at the end.
    final class Server {
        let process: Process
        let url: String
        let token = "e2e-token-\(UInt32.random(in: 0...UInt32.max))"
        let dir: TempDirectory

        /// With `tls`, `serve --tls-cert --tls-key` with its server certificate.
        init(dir: TempDirectory, tls: ThrowawayCA? = nil) throws {
            self.dir = dir
            if !FileManager.default.fileExists(atPath: dir.file("keys/release.pub")) {
                #expect(CLI.run(ServerClientTests.slotServer, ["keygen", "--out", dir.file("keys")]).status == 0)
            }
            let port = try Self.freePort()
            url = "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)"
            let certificate = tls.map { ["--tls-cert", $0.certFile, "--tls-key", $0.keyFile] } ?? []
            process = try CLI.start(
                ServerClientTests.slotServer,
                ["serve", "--listen", "127.0.0.1:\(port)", "--data", dir.file("server-data"), "--release-key", dir.file("keys/release.pub"), "--flush-interval", "0.2"]
                    + certificate,
                environment: ["SLOT_SERVER_ADMIN_TOKEN": token])
            for _ in 0..<250 {
                // Up when it answers; over TLS, when the handshake reaches a server that speaks it.
                let probe = tls.map { CLI.run("/usr/bin/curl", ["-sf", "--cacert", $0.caFile, url + "/healthz"]).status == 0 }
                    ?? ((try? String(contentsOf: URL(string: url + "/healthz")!, encoding: .utf8)) != nil)
                if probe {
                    // The factory image's enrolment token, made once per directory.
                    if !FileManager.default.fileExists(atPath: dir.file("enroll-token")) {
                        let made = admin(["enroll-token", "--product", "test-board", "--out", dir.file("enroll-token")])
                        #expect(made.status == 0, "\(made.stderr)")
                    }
                    return
                }
                usleep(20_000)
            }
            throw SlotError(.network, "slot-server did not come up on \(url)")
        }

        func stop() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        deinit { stop() }

        static func freePort() throws -> Int {
            let output = CLI.run("/usr/bin/env", ["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"])
            guard let port = Int(output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw SlotError(.io, "no free port") }
            return port
        }

        func admin(_ arguments: [String]) -> CLI.Output {
            CLI.run(ServerClientTests.slotServer, arguments + ["--server", url], environment: ["SLOT_SERVER_ADMIN_TOKEN": token])
        }

        func deploy(_ image: String, version: String, extra: [String] = []) throws -> String {
            let output = admin(["deploy", "--key", dir.file("keys/release.key"), "--compatible", "test-board", "--channel", "stable", "--version", version] + extra + [image])
            guard output.status == 0 else { throw SlotError(.network, "deploy failed: \(output.stderr)") }
            return output.stdout.split(separator: "\n").last.map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
        }
    }

    /// A device with A running 1.0 (good), pointed at the server (pinning `ca`
    /// when given) and pinning the server's online key (`serve` wrote it).
    func device(server: Server, dir: TempDirectory, ca: String? = nil, serverKey: String? = nil, token: Bool = true) throws -> Sandbox {
        let box = try Sandbox(slotSize: 8 << 20, extra: """
            [update]
            server = \(server.url)
            channel = stable
            public-key = \(dir.file("keys/release.pub"))
            server-key = \(serverKey ?? dir.file("server-data/online.pub"))
            \(token ? "enroll-token = \(dir.file("enroll-token"))" : "")
            \(ca.map { "ca = \($0)" } ?? "")
            """)
        let config = box.configPath
        #expect(CLI.slotctl(["init"], config: config).status == 0)
        let v1 = box.image("v1.img", size: 1 << 20, seed: 71)
        #expect(CLI.slotctl(["install", v1.path, "--version", "1.0"], config: config).status == 0)
        #expect(CLI.slotctl(["boot"], config: config).stdout.assignment("SLOT") == "A")
        #expect(CLI.slotctl(["mark-good"], config: config).status == 0)
        return box
    }

    @Test func deployThenTheDeviceTakesItBootsItAndReports() throws {
        let dir = TempDirectory("slotctl-e2e")
        let server = try Server(dir: dir)
        let box = try device(server: server, dir: dir)
        let config = box.configPath

        var check = CLI.slotctl(["check"], config: config)
        #expect(check.status == 1, "nothing deployed yet: \(check.stdout)\(check.stderr)")

        let image = patternBytes((3 << 20) + 5, seed: 72)
        box.dir.write("v2.img", bytes: image)
        let release = try server.deploy(box.dir.file("v2.img"), version: "2.0", extra: ["--gzip", "--security-version", "2"])
        #expect(!release.isEmpty)

        check = CLI.slotctl(["check", "--json"], config: config)
        #expect(check.status == 0)
        #expect(check.stdout.contains("\"version\":\"2.0\""))
        // The deploy is a new catalog version, signed and remembered by the device.
        let seen = Int(String(decoding: box.dir.read("state/catalog-version"), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        #expect((seen ?? 0) >= 1, "catalog version seen: \(String(describing: seen))")

        let update = CLI.slotctl(["update", "--json"], config: config)
        #expect(update.status == 0, "\(update.stderr)")
        let states = update.stdout.split(separator: "\n").compactMap { line -> String? in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["state"] as? String
        }
        #expect(states.first == "checking" && states.last == "ready-to-reboot", "\(states)")
        #expect(box.slotBytes("b.img", count: image.count) == image)

        // Reboot into B, confirm it; the device reports it at its next check.
        #expect(CLI.slotctl(["boot"], config: config).stdout.assignment("SLOT") == "B")
        #expect(CLI.slotctl(["mark-good"], config: config).status == 0)
        #expect(CLI.slotctl(["current"], config: config).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "2.0")
        check = CLI.slotctl(["check"], config: config)
        #expect(check.status == 1, "2.0 is running: nothing newer")

        usleep(600_000)  // the server batches check-ins
        let stats = server.admin(["stats", release, "--json"])
        #expect(stats.status == 0, "\(stats.stderr)")
        for event in ["downloaded", "installed", "booted", "marked-good"] {
            #expect(stats.stdout.contains(event), "stats lack \(event): \(stats.stdout)")
        }
        let devices = server.admin(["devices", "--json"])
        let enrolment = try WireJSON.decoder().decode(EnrollAnswer.self, from: Data(box.dir.read("state/device-enrolled")))
        #expect(devices.stdout.contains(enrolment.clientId))
        #expect(server.admin(["devices", "enrolled"]).stdout.contains(enrolment.clientId))
    }

    /// Device identity from the device's side: it enrols on first contact with
    /// the factory token and keeps its key private; a device without a token is
    /// told what is missing; a revoked device is refused (exit 5) and its slots
    /// stay as they were.
    @Test func enrolmentAndRevocation() throws {
        let dir = TempDirectory("slotctl-e2e-identity")
        let server = try Server(dir: dir)
        let box = try device(server: server, dir: dir)
        let config = box.configPath
        let image = patternBytes((1 << 20) + 9, seed: 75)
        box.dir.write("v2.img", bytes: image)
        _ = try server.deploy(box.dir.file("v2.img"), version: "2.0")

        let check = CLI.slotctl(["check", "--json"], config: config)
        #expect(check.status == 0 && check.stdout.contains("\"version\":\"2.0\""), "\(check.stdout)\(check.stderr)")
        let enrolment = try WireJSON.decoder().decode(EnrollAnswer.self, from: Data(box.dir.read("state/device-enrolled")))
        #expect(enrolment.product == "test-board")
        let mode = try FileManager.default.attributesOfItem(atPath: box.dir.file("state/device.key"))[.posixPermissions] as? Int
        #expect(mode == 0o600, "device.key mode \(String(describing: mode))")
        #expect(server.admin(["devices", "enrolled"]).stdout.contains(enrolment.clientId))

        let bare = try device(server: server, dir: dir, token: false)
        let refused = CLI.slotctl(["check"], config: bare.configPath)
        #expect(refused.status == 5, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stderr.contains("signed by an enrolled device"), "\(refused.stderr)")

        let revoke = server.admin(["devices", "revoke", enrolment.clientId])
        #expect(revoke.status == 0 && revoke.stdout.contains("revoked \(enrolment.clientId)"), "\(revoke.stdout)\(revoke.stderr)")
        let update = CLI.slotctl(["update"], config: config)
        #expect(update.status == 5, "\(update.stdout)\(update.stderr)")
        #expect(update.stderr.contains("is revoked"), "\(update.stderr)")
        #expect(box.slotBytes("b.img", count: image.count) != image)
        #expect(CLI.slotctl(["current"], config: config).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1.0")
    }

    /// A device pinning another online key than the server's refuses its answers,
    /// offers and "nothing new" alike; the server keeps its key across restarts.
    @Test func answersSignedByAnotherOnlineKeyAreRefused() throws {
        let dir = TempDirectory("slotctl-e2e-fresh")
        var server: Server? = try Server(dir: dir)
        let key = dir.read("server-data/online.pub")
        dir.write("other.pub", ReleaseSignature.generateKeyPair().publicKey + "\n")
        let stranger = try device(server: server!, dir: dir, serverKey: dir.file("other.pub"))
        var check = CLI.slotctl(["check"], config: stranger.configPath)
        #expect(check.status == 3, "\(check.stderr)")
        #expect(check.stderr.contains("not signed by the pinned server key"), "\(check.stderr)")
        server!.stop()
        server = try Server(dir: dir)
        #expect(dir.read("server-data/online.pub") == key, "a restart keeps the online key")
        let pinned = try device(server: server!, dir: dir)
        check = CLI.slotctl(["check"], config: pinned.configPath)
        #expect(check.status == 1, "up to date, and fresh: \(check.stderr)")
    }

    /// `serve --tls-cert --tls-key`: the device pins the CA ([update] ca), checks,
    /// downloads (the payload URL is https too) and reports over TLS; a device
    /// pinning another CA, and a client speaking plain HTTP, get nothing.
    @Test func overHTTPSWithAPinnedCA() throws {
        let dir = TempDirectory("slotctl-e2e-tls")
        let ca = try ThrowawayCA(in: dir)
        // Deploy over plain HTTP (the admin client trusts the system store only),
        // then serve the same data over TLS.
        let image = patternBytes((2 << 20) + 3, seed: 74)
        dir.write("v2.img", bytes: image)
        do {
            let plain = try Server(dir: dir)
            _ = try plain.deploy(dir.file("v2.img"), version: "2.0")
            plain.stop()
        }
        let server = try Server(dir: dir, tls: ca)
        #expect(server.url.hasPrefix("https://"))
        let box = try device(server: server, dir: dir, ca: ca.caFile)
        let config = box.configPath
        let check = CLI.slotctl(["check", "--json"], config: config)
        #expect(check.status == 0 && check.stdout.contains("\"version\":\"2.0\""), "\(check.stdout)\(check.stderr)")
        let update = CLI.slotctl(["update"], config: config)
        #expect(update.status == 0, "\(update.stderr)")
        #expect(box.slotBytes("b.img", count: image.count) == image)

        let stranger = try ThrowawayCA(in: dir, name: "stranger")
        let other = try device(server: server, dir: dir, ca: stranger.caFile)
        let refused = CLI.slotctl(["update"], config: other.configPath)
        #expect(refused.status == 4, "\(refused.stderr)")
        #expect(refused.stderr.contains("cannot reach the update server") && refused.stderr.contains("certificate"), "\(refused.stderr)")
        #expect(other.slotBytes("b.img", count: image.count) != image)

        let plainText = CLI.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", server.url.replacingOccurrences(of: "https://", with: "http://") + "/healthz"])
        #expect(plainText.stdout != "200", "plain HTTP must not be answered on the TLS port")
    }

    /// A certificate or key that cannot serve stops `serve` before it listens, saying which.
    @Test func badTLSFilesStopTheServerAtStart() throws {
        let dir = TempDirectory("slotctl-e2e-tls-bad")
        let ca = try ThrowawayCA(in: dir)
        let other = try ThrowawayCA(in: dir, name: "other")
        dir.write("garbage.pem", "not a certificate\n")
        let cases: [(args: [String], text: String)] = [
            (["--tls-cert", ca.certFile], "--tls-cert and --tls-key go together"),
            (["--tls-cert", dir.file("missing.pem"), "--tls-key", ca.keyFile], "--tls-cert \(dir.file("missing.pem"))"),
            (["--tls-cert", dir.file("garbage.pem"), "--tls-key", ca.keyFile], "not a readable PEM certificate chain"),
            (["--tls-cert", ca.certFile, "--tls-key", dir.file("garbage.pem")], "not a readable PEM private key"),
            (["--tls-cert", ca.certFile, "--tls-key", other.keyFile], "does not go with --tls-cert"),
        ]
        for testCase in cases {
            let result = CLI.run(Self.slotServer, ["serve", "--listen", "127.0.0.1:0", "--data", dir.file("data")] + testCase.args)
            #expect(result.status != 0, "\(testCase.args)")
            #expect(result.stderr.contains(testCase.text), "\(testCase.args): \(result.stderr)")
            #expect(!result.stderr.contains("listening on"), "\(testCase.args): \(result.stderr)")
        }
    }

    /// An online key or freshness lifetime that cannot serve stops `serve` before it listens.
    @Test func badOnlineKeyOrFreshnessStopsTheServerAtStart() throws {
        let dir = TempDirectory("slotctl-e2e-online-bad")
        dir.write("garbage.key", "not a key\n")
        dir.write("empty.key", "\n")
        dir.write("public-only.key", ReleaseSignature.generateKeyPair().publicKey.dropLast(4) + "\n")
        let cases: [(args: [String], text: String)] = [
            (["--online-key", dir.file("missing.key")], "cannot read the online key file \(dir.file("missing.key"))"),
            (["--online-key", dir.file("garbage.key")], "is not a base64 Ed25519 private key"),
            (["--online-key", dir.file("empty.key")], "is empty"),
            (["--online-key", dir.file("public-only.key")], "is not a base64 Ed25519 private key"),
            (["--freshness", "29"], "--freshness must be 30 to 86400 seconds"),
            (["--freshness", "86401"], "--freshness must be 30 to 86400 seconds"),
        ]
        for testCase in cases {
            let result = CLI.run(Self.slotServer, ["serve", "--listen", "127.0.0.1:0", "--data", dir.file("data")] + testCase.args)
            #expect(result.status != 0, "\(testCase.args)")
            #expect(result.stderr.contains(testCase.text), "\(testCase.args): \(result.stderr)")
            #expect(!result.stderr.contains("listening on"), "\(testCase.args): \(result.stderr)")
        }
        // Nothing was generated in place of the key that was named.
        #expect(!FileManager.default.fileExists(atPath: dir.file("data/online.key")))
    }

    @Test func aRolloutOfZeroReachesNobodyAndWideningReachesTheDevice() throws {
        let dir = TempDirectory("slotctl-e2e")
        let server = try Server(dir: dir)
        let box = try device(server: server, dir: dir)
        box.dir.write("v2.img", bytes: patternBytes(100_000, seed: 73))
        let release = try server.deploy(box.dir.file("v2.img"), version: "2.0", extra: ["--rollout", "0"])
        #expect(CLI.slotctl(["check"], config: box.configPath).status == 1)
        #expect(server.admin(["rollout", release, "--percent", "100"]).status == 0)
        usleep(1_500_000)  // the catalog reloads every second
        #expect(CLI.slotctl(["check"], config: box.configPath).status == 0)
        #expect(server.admin(["rollout", release, "--pause"]).status == 0)
        usleep(1_500_000)
        #expect(CLI.slotctl(["check"], config: box.configPath).status == 1)
    }
}
