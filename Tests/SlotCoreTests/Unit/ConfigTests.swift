import SlotTestSupport
import Testing
@testable import SlotCore

@Suite struct ConfigTests {
    static let valid = """
        [system]
        compatible = acme-gateway      # an image declares the same string
        state = /var/lib/slotctl
        run-dir = /run/slotctl
        max-tries = 5
        data = /data

        [slot.A]
        device = PARTLABEL=rootfs_a
        [slot.B]
        device = /dev/vda3
        [slot.R]
        device = UUID=1234-ABCD
        readonly = true

        [boot]
        state-device = PARTLABEL=data
        state-path = slotctl

        [update]
        server = https://updates.example.com
        channel = beta
        public-key = /etc/slotctl/release.pub
        """

    @Test func parsesTheDesignExample() throws {
        let config = try SystemConfig.parse(path: "/etc/slotctl/system.conf", text: Self.valid)
        #expect(config.compatible == "acme-gateway")
        #expect(config.maxTries == 5)
        #expect(config.dataDirectory == "/data")
        #expect(config.slot(.A).storage == .block(.tag(.partLabel, "rootfs_a")))
        #expect(config.slot(.B).storage == .block(.path("/dev/vda3")))
        #expect(config.slot(.R).storage == .block(.tag(.uuid, "1234-ABCD")))
        #expect(config.slot(.R).readonly && !config.slot(.A).readonly)
        #expect(config.boot == .init(stateDevice: .tag(.partLabel, "data"), statePath: "slotctl"))
        #expect(config.update.channel == "beta")
        #expect(config.update.server == "https://updates.example.com")
    }

    @Test func defaultsAndRelativePaths() throws {
        let config = try SystemConfig.parse(path: "/srv/box/system.conf", text: """
            [system]
            compatible = x
            [slot.A]
            directory = slots/a
            filename = libapp.so
            [slot.B]
            directory = /opt/b
            filename = libapp.so
            [slot.R]
            device = r.img
            """)
        #expect(config.stateDirectory == "/var/lib/slotctl")
        #expect(config.runDirectory == "/run/slotctl")
        #expect(config.maxTries == 3)
        #expect(config.slot(.A).storage == .directory(path: "/srv/box/slots/a", filename: "libapp.so"))
        #expect(config.slot(.A).payloadPath == "/srv/box/slots/a/libapp.so")
        #expect(config.slot(.R).storage == .block(.path("/srv/box/r.img")))
        #expect(config.update.channel == "stable")
    }

    /// Each bad config names the file, the line and the key or section.
    @Test(arguments: [
        ("max-tries = 5", "max-tries = lots", "c.conf:5: [system] max-tries: expected an integer in 1...255, got 'lots'"),
        ("max-tries = 5", "max-tries = 0", "c.conf:5: [system] max-tries"),
        ("max-tries = 5", "max-trys = 5", "c.conf:5: unknown key 'max-trys' in [system]"),
        ("[boot]", "[bot]", "c.conf:16: unknown section [bot]"),
        ("compatible = acme-gateway      # an image declares the same string", "", "c.conf:1: [system] is missing required key 'compatible'"),
        ("device = /dev/vda3", "device = FOO=bar", "c.conf:11: [slot.B] device: expected a path or LABEL="),
        ("device = /dev/vda3", "device = /dev/vda3\ndirectory = /x", "c.conf:12: [slot.B] has both 'device' and 'directory'"),
        ("readonly = true", "readonly = maybe", "c.conf:14: [slot.R] readonly: expected true or false, got 'maybe'"),
        ("[slot.B]\ndevice = /dev/vda3", "", "c.conf: missing section [slot.B]"),
        ("max-tries = 5", "max-tries = 5\nmax-tries = 6", "c.conf:6: key 'max-tries' appears twice in [system]"),
        ("max-tries = 5", "max-tries 5", "c.conf:5: expected 'key = value', got 'max-tries 5'"),
        ("server = https://updates.example.com", "server = ftp://x", "c.conf:21: [update] server: expected an http:// or https:// URL"),
        ("data = /data", "data = /", "c.conf:6: [system] data: refusing '/'"),
        ("state-path = slotctl", "state-path = ../etc", "c.conf:18: [boot] state-path: must stay inside the partition"),
    ])
    func badConfigsNameFileLineAndKey(original: String, replacement: String, message: String) {
        let text = Self.valid.replacing(original, with: replacement)
        #expect(text != Self.valid, "the test must change the config")
        do {
            _ = try SystemConfig.parse(path: "c.conf", text: text)
            Issue.record("expected an error for \(replacement)")
        } catch {
            #expect(error.code == .invalidConfig)
            #expect(error.exitCode == 2)
            #expect(error.message.hasPrefix(message), "got: \(error.message)")
        }
    }

    @Test func keyBeforeAnySectionIsAnError() {
        #expect(throws: SlotError.self) { try SystemConfig.parse(path: "c", text: "compatible = x\n[system]\n") }
    }

    @Test func missingFileIsAConfigError() {
        do {
            _ = try SystemConfig.load(path: "/nonexistent/system.conf")
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .invalidConfig)
            #expect(error.description.contains("/nonexistent/system.conf"))
            #expect(error.description.contains("No such file"))
        }
    }
}
