import SlotCodec
/// What an install must match before the slot may become bootable: from
/// the command line (`--crc32`, `--version`), a manifest, or a release.
public struct InstallExpectations: Sendable, Equatable {
    public var version: String?
    /// The release id to record with the image (the update client's).
    public var release: String?
    public var compatible: String?
    public var securityVersion: UInt64?
    public var size: UInt64?
    public var crc32: UInt32?
    public var sha256: String?

    public init(version: String? = nil, release: String? = nil, compatible: String? = nil, securityVersion: UInt64? = nil, size: UInt64? = nil, crc32: UInt32? = nil, sha256: String? = nil) {
        self.version = version
        self.release = release
        self.compatible = compatible
        self.securityVersion = securityVersion
        self.size = size
        self.crc32 = crc32
        self.sha256 = sha256?.lowercased()
    }

    /// Merges another set in (a manifest's); a value given on both sides must agree.
    public mutating func merge(_ manifest: InstallExpectations) throws(SlotError) {
        func agree<T: Equatable>(_ mine: inout T?, _ theirs: T?, _ name: String) throws(SlotError) {
            guard let theirs else { return }
            if let current = mine, current != theirs {
                throw SlotError(.usage, "--\(name) disagrees with the manifest's \(name)")
            }
            mine = theirs
        }
        try agree(&version, manifest.version, "version")
        try agree(&compatible, manifest.compatible, "compatible")
        try agree(&securityVersion, manifest.securityVersion, "security-version")
        try agree(&size, manifest.size, "size")
        try agree(&release, manifest.release, "release")
        try agree(&crc32, manifest.crc32, "crc32")
        try agree(&sha256, manifest.sha256, "sha256")
    }

    /// Checks that need no image bytes: run before anything is touched.
    public func checkBeforeWriting(config: SystemConfig, state: SystemState, capacity: UInt64?) throws(SlotError) {
        if let compatible, compatible != config.compatible {
            throw SlotError(.incompatible, "the image is for '\(compatible)', this system is '\(config.compatible)'")
        }
        if let securityVersion, securityVersion < state.securityVersion {
            throw SlotError(.downgrade, "the image's security version \(securityVersion) is below this system's floor \(state.securityVersion)")
        }
        if let size, let capacity, size > capacity {
            throw SlotError(.imageTooLarge, "the image (\(size) bytes) is larger than the slot (\(capacity) bytes)")
        }
    }

    /// Checks of the written image against what was expected.
    public func checkAfterWriting(_ result: ImageWriter.Result) throws(SlotError) {
        if let size, size != result.size {
            throw SlotError(.sizeMismatch, "the image has \(result.size) bytes, expected \(size)")
        }
        if let crc32, crc32 != result.crc32 {
            throw SlotError(.checksumMismatch, "the image's CRC32 is \(CRC32.hex(result.crc32)), expected \(CRC32.hex(crc32))")
        }
        if let sha256, sha256 != result.sha256 {
            throw SlotError(.checksumMismatch, "the image's SHA-256 is \(result.sha256 ?? "?"), expected \(sha256)")
        }
    }
}
