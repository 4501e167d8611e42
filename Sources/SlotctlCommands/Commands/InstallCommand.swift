import SlotCodec
import ArgumentParser
import SlotCore
import SlotWire

struct InstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Write an image into the inactive slot, verify it by reading it back, and make it the next to boot.",
        discussion: "IMAGE may be gzip-compressed (detected by its magic) and may be '-' for standard input.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Image file, or - for standard input.")
    var image: String

    @Option(help: "Target slot (default: the inactive one of A and B).")
    var slot: SlotName?

    @Option(help: "Version to record for the image.")
    var version: String?

    @Option(help: "Expected CRC32 of the (uncompressed) image, 8 hex digits.")
    var crc32: String?

    @Option(help: "JSON manifest: compatible, version, securityVersion, size, crc32, sha256.")
    var manifest: String?

    @Flag(help: "Allow writing R or a readonly slot (factory provisioning).")
    var provision = false

    func run() throws {
        let manager = try global.manager()
        var expectations = InstallExpectations(version: version)
        if let crc32 {
            guard let value = CRC32.parse(crc32) else {
                throw SlotError(.usage, "--crc32 expects 8 hex digits, got '\(crc32)'")
            }
            expectations.crc32 = value
        }
        if let manifest { try expectations.merge(InstallExpectations(try Self.loadManifest(manifest))) }
        let input: ImageInput = image == "-" ? .standardInput : .file(image)
        let bar = ProgressBar(label: "installing")
        let result = try manager.install(input, slot: slot, provision: provision, expectations: expectations) { done, total in
            bar.update(done: done, total: total)
        }
        bar.finish()
        let record = result.record
        print("installed \(record.version ?? "image") into slot \(result.slot): \(record.size ?? 0) bytes, crc32 \(record.crc32.map(CRC32.hex) ?? "-"), verified by read-back")
        if result.slot != .R {
            print("slot \(result.slot) boots next (\(record.tries) tries until it is confirmed with 'slotctl mark-good')")
        }
    }

    /// `--manifest FILE`: decoded and checked by the wire types' own rules.
    static func loadManifest(_ path: String) throws(SlotError) -> ImageManifest {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path, limit: 64 * 1024)
        } catch {
            throw SlotError(.badManifest, "cannot read manifest '\(path)'", cause: error.cause)
        }
        do throws(WireError) {
            return try ImageManifest.decode(bytes)
        } catch {
            throw SlotError(.badManifest, "manifest '\(path)': \(error.message)")
        }
    }
}

extension InstallExpectations {
    /// What a manifest asks of the image (its crc32 already validated).
    init(_ manifest: ImageManifest) {
        self.init(
            version: manifest.version, compatible: manifest.compatible, securityVersion: manifest.securityVersion,
            size: manifest.size, crc32: manifest.crc32.flatMap(CRC32.parse), sha256: manifest.sha256)
    }
}
