/// One slot as configured: where its bytes live and whether updates may write it.
public struct SlotDefinition: Sendable, Equatable {
    public enum Storage: Sendable, Equatable {
        /// A block device, or a regular file standing in for one; the image
        /// is written over its first bytes and may not exceed its size.
        case block(DeviceSpec)
        /// A directory that holds one payload file, replaced by rename.
        case directory(path: String, filename: String)
    }

    public var name: SlotName
    public var storage: Storage
    /// Never written, except by provisioning (`install --slot R --provision`).
    public var readonly: Bool

    public var kind: String {
        switch storage {
        case .block: "block"
        case .directory: "directory"
        }
    }

    /// The payload file of a directory slot.
    public var payloadPath: String? {
        if case .directory(let path, let filename) = storage { return path + "/" + filename }
        return nil
    }
}
