import Glibc

/// `/etc/slotctl/system.conf`, parsed and checked. Unknown sections and keys,
/// missing required keys and bad values are errors naming file, line and key.
public struct SystemConfig: Sendable {
    public static let defaultPath = "/etc/slotctl/system.conf"

    public var path: String
    public var compatible: String
    public var stateDirectory: String
    public var runDirectory: String
    public var maxTries: Int
    public var dataDirectory: String?
    public var slots: [SlotName: SlotDefinition]
    public var boot: BootConfig?
    /// Who chooses and counts: the initramfs hook, or GRUB or U-Boot
    /// through their environments (`[boot] bootloader`).
    public var bootloader: Bootloader = .initramfs
    public var update: UpdateConfig

    public func slot(_ name: SlotName) -> SlotDefinition { slots[name]! }

    /// Where the initramfs finds the state before any root is mounted.
    public struct BootConfig: Sendable, Equatable {
        public var stateDevice: DeviceSpec
        public var statePath: String
    }

    /// `[boot] bootloader`: with `grub` or `uboot` each slot carries its own
    /// kernel and the bootloader counts; the state is projected into its
    /// environment (see ``BootloaderProjection``).
    public enum Bootloader: Sendable, Equatable {
        case initramfs
        /// The 1024-byte block of GRUB's `load_env`/`save_env`.
        case grub(environment: String)
        /// The `fw_env.config` that names U-Boot's environment.
        case uboot(configuration: String)
    }

    /// The `[update]` section, used by the update client.
    public struct UpdateConfig: Sendable, Equatable {
        public var server: String?
        public var channel: String = "stable"
        public var publicKeyPath: String?
        /// The CA bundle (PEM) the server's certificate must chain to,
        /// instead of the system store; only with an https server.
        public var caPath: String?
        /// The server's online public key (base64 Ed25519, in a file): check
        /// answers must carry a fresh statement it signed.
        public var serverKeyPath: String?
        /// The operator's enrolment token (in a file on the factory image):
        /// the device enrols with it once, then signs every request.
        public var enrollTokenPath: String?
        /// Seconds between checks in daemon mode.
        public var interval: Int = 3600
        /// Upper bound of the retry backoff after failures, in seconds.
        public var maxBackoff: Int = 6 * 3600
        /// Whether the daemon reboots by itself once an update is ready.
        public var rebootAfterUpdate: Bool = false
        /// What the daemon runs to reboot.
        public var rebootCommand: String = "/sbin/reboot"
        /// Whether a release's chunk index is used to fetch only the chunks
        /// the device lacks (`delta = no`: always the whole payload).
        public var delta: Bool = true
    }

    /// The config path chosen by `--config`, then `SLOTCTL_CONFIG`, then the default.
    public static func path(explicit: String?) -> String {
        if let explicit { return explicit }
        if let value = getenv("SLOTCTL_CONFIG"), value.pointee != 0 { return String(cString: value) }
        return defaultPath
    }

    public static func load(path: String) throws(SlotError) -> SystemConfig {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path, limit: 1 << 20)
        } catch {
            throw SlotError(.invalidConfig, "cannot read config '\(path)'", cause: error.cause)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw SlotError(.invalidConfig, "\(path): not UTF-8 text")
        }
        return try parse(path: path, text: text)
    }

    public static func parse(path: String, text: String) throws(SlotError) -> SystemConfig {
        let ini = try INIFile(path: path, text: text)
        let base = FileSystem.parentDirectory(of: path)
        let reader = Reader(path: path, base: base)

        for section in ini.sections {
            let known = ["system", "boot", "update"] + SlotName.allCases.map { "slot.\($0.rawValue)" }
            if !known.contains(section.name) {
                throw SlotError(.invalidConfig, "\(path):\(section.line): unknown section [\(section.name)] (known: \(known.map { "[\($0)]" }.joined(separator: " ")))")
            }
        }

        guard let system = ini.section("system") else {
            throw SlotError(.invalidConfig, "\(path): missing section [system]")
        }
        try reader.checkKeys(system, allowed: ["compatible", "state", "run-dir", "max-tries", "data"])
        let compatible = try reader.required(system, "compatible")
        let state = reader.path(system, "state") ?? "/var/lib/slotctl"
        let runDir = reader.path(system, "run-dir") ?? "/run/slotctl"
        let maxTries = try reader.integer(system, "max-tries", range: 1...255) ?? 3
        let data = reader.path(system, "data")
        if let data, data == "/" || data.isEmpty {
            throw SlotError(.invalidConfig, "\(path):\(system.entry("data")!.line): [system] data: refusing '\(data)' (factory-reset --wipe-data would empty it)")
        }

        var slots: [SlotName: SlotDefinition] = [:]
        for name in SlotName.allCases {
            guard let section = ini.section("slot.\(name.rawValue)") else {
                throw SlotError(.invalidConfig, "\(path): missing section [slot.\(name.rawValue)]")
            }
            try reader.checkKeys(section, allowed: ["device", "directory", "filename", "readonly"])
            let readonly = try reader.boolean(section, "readonly") ?? false
            let storage: SlotDefinition.Storage
            switch (section.entry("device"), section.entry("directory")) {
            case (let device?, nil):
                guard let spec = DeviceSpec(device.value, relativeTo: base) else {
                    throw SlotError(.invalidConfig, "\(path):\(device.line): [slot.\(name.rawValue)] device: expected a path or LABEL=, PARTLABEL=, UUID=, PARTUUID=, got '\(device.value)'")
                }
                if let filename = section.entry("filename") {
                    throw SlotError(.invalidConfig, "\(path):\(filename.line): [slot.\(name.rawValue)] filename: only a directory slot has a filename")
                }
                storage = .block(spec)
            case (nil, let directory?):
                let filename = try reader.required(section, "filename")
                if filename.contains("/") || filename == "." || filename == ".." {
                    throw SlotError(.invalidConfig, "\(path):\(section.entry("filename")!.line): [slot.\(name.rawValue)] filename: must be a plain file name, got '\(filename)'")
                }
                storage = .directory(path: resolve(directory.value, relativeTo: base), filename: filename)
            case (nil, nil):
                throw SlotError(.invalidConfig, "\(path):\(section.line): [slot.\(name.rawValue)] needs 'device' or 'directory'")
            case (_, let directory?):
                throw SlotError(.invalidConfig, "\(path):\(directory.line): [slot.\(name.rawValue)] has both 'device' and 'directory'")
            }
            slots[name] = SlotDefinition(name: name, storage: storage, readonly: readonly)
        }

        var boot: BootConfig?
        var bootloader = Bootloader.initramfs
        if let section = ini.section("boot") {
            try reader.checkKeys(section, allowed: ["state-device", "state-path", "bootloader", "grubenv", "uboot-env"])
            switch section.entry("bootloader")?.value ?? "initramfs" {
            case "initramfs":
                for key in ["grubenv", "uboot-env"] {
                    if let entry = section.entry(key) {
                        throw SlotError(.invalidConfig, "\(path):\(entry.line): [boot] \(key) needs bootloader = \(key == "grubenv" ? "grub" : "uboot")")
                    }
                }
            case "grub":
                let grubenv = try reader.required(section, "grubenv")
                bootloader = .grub(environment: resolve(grubenv, relativeTo: base))
                if maxTries > BootloaderProjection.grubMaxTries {
                    throw SlotError(.invalidConfig, "\(path):\(ini.section("system")?.entry("max-tries")?.line ?? 0): [system] max-tries: at most \(BootloaderProjection.grubMaxTries) with bootloader = grub (its script counts down by literal values), got \(maxTries)")
                }
            case "uboot":
                let envConfig = section.entry("uboot-env")?.value ?? "/etc/fw_env.config"
                bootloader = .uboot(configuration: resolve(envConfig, relativeTo: base))
            case let other:
                throw SlotError(.invalidConfig, "\(path):\(section.entry("bootloader")!.line): [boot] bootloader: expected initramfs, grub or uboot, got '\(other)'")
            }
        }
        if let section = ini.section("boot"), let deviceText = section.entry("state-device")?.value {
            guard let device = DeviceSpec(deviceText, relativeTo: base) else {
                throw SlotError(.invalidConfig, "\(path):\(section.entry("state-device")!.line): [boot] state-device: expected a path or LABEL=, PARTLABEL=, UUID=, PARTUUID=, got '\(deviceText)'")
            }
            let statePath = section.entry("state-path")?.value ?? "slotctl"
            if statePath.split(separator: "/").contains("..") {
                throw SlotError(.invalidConfig, "\(path):\(section.entry("state-path")!.line): [boot] state-path: must stay inside the partition")
            }
            boot = BootConfig(stateDevice: device, statePath: statePath)
        } else if let section = ini.section("boot"), bootloader == .initramfs {
            _ = try reader.required(section, "state-device")
        }

        var update = UpdateConfig()
        if let section = ini.section("update") {
            try reader.checkKeys(section, allowed: ["server", "channel", "public-key", "ca", "server-key", "enroll-token", "interval", "max-backoff", "reboot", "reboot-command", "delta"])
            update.server = section.entry("server")?.value
            if let server = update.server, !(server.hasPrefix("http://") || server.hasPrefix("https://")) {
                throw SlotError(.invalidConfig, "\(path):\(section.entry("server")!.line): [update] server: expected an http:// or https:// URL, got '\(server)'")
            }
            update.channel = section.entry("channel")?.value ?? "stable"
            update.publicKeyPath = reader.path(section, "public-key")
            update.caPath = reader.path(section, "ca")
            update.serverKeyPath = reader.path(section, "server-key")
            update.enrollTokenPath = reader.path(section, "enroll-token")
            if update.caPath != nil, let server = update.server, !server.hasPrefix("https://") {
                throw SlotError(.invalidConfig, "\(path):\(section.entry("ca")!.line): [update] ca: the server '\(server)' is not https://, so a pinned CA would protect nothing")
            }
            update.interval = try reader.integer(section, "interval", range: 1...(7 * 86400)) ?? update.interval
            update.maxBackoff = try reader.integer(section, "max-backoff", range: 1...(30 * 86400)) ?? update.maxBackoff
            update.rebootAfterUpdate = try reader.boolean(section, "reboot") ?? false
            update.delta = try reader.boolean(section, "delta") ?? true
            update.rebootCommand = section.entry("reboot-command")?.value ?? update.rebootCommand
        }

        return SystemConfig(
            path: path, compatible: compatible, stateDirectory: state, runDirectory: runDir, maxTries: maxTries,
            dataDirectory: data, slots: slots, boot: boot, bootloader: bootloader, update: update)
    }

    /// Paths in the config are relative to the config file's directory.
    static func resolve(_ path: String, relativeTo base: String) -> String {
        path.hasPrefix("/") ? path : base + "/" + path
    }

    /// Typed access to section entries with errors that name file, line and key.
    private struct Reader {
        let path: String
        let base: String

        func checkKeys(_ section: INIFile.Section, allowed: [String]) throws(SlotError) {
            for entry in section.entries where !allowed.contains(entry.key) {
                throw SlotError(.invalidConfig, "\(path):\(entry.line): unknown key '\(entry.key)' in [\(section.name)] (known: \(allowed.joined(separator: ", ")))")
            }
        }

        func required(_ section: INIFile.Section, _ key: String) throws(SlotError) -> String {
            guard let entry = section.entry(key) else {
                throw SlotError(.invalidConfig, "\(path):\(section.line): [\(section.name)] is missing required key '\(key)'")
            }
            guard !entry.value.isEmpty else {
                throw SlotError(.invalidConfig, "\(path):\(entry.line): [\(section.name)] \(key): empty value")
            }
            return entry.value
        }

        func path(_ section: INIFile.Section, _ key: String) -> String? {
            guard let value = section.entry(key)?.value, !value.isEmpty else { return nil }
            return SystemConfig.resolve(value, relativeTo: base)
        }

        func integer(_ section: INIFile.Section, _ key: String, range: ClosedRange<Int>) throws(SlotError) -> Int? {
            guard let entry = section.entry(key) else { return nil }
            guard let value = Int(entry.value), range.contains(value) else {
                throw SlotError(.invalidConfig, "\(path):\(entry.line): [\(section.name)] \(key): expected an integer in \(range.lowerBound)...\(range.upperBound), got '\(entry.value)'")
            }
            return value
        }

        func boolean(_ section: INIFile.Section, _ key: String) throws(SlotError) -> Bool? {
            guard let entry = section.entry(key) else { return nil }
            switch entry.value.lowercased() {
            case "true", "yes", "1", "on": return true
            case "false", "no", "0", "off": return false
            default:
                throw SlotError(.invalidConfig, "\(path):\(entry.line): [\(section.name)] \(key): expected true or false, got '\(entry.value)'")
            }
        }
    }
}
