extension SlotManager {
    /// What the running system should load or mount: the booted slot's
    /// device (resolved) or payload file. "Which .so do I load?"
    public func activePath() throws(SlotError) -> String {
        let slot = try requireBooted("path")
        let definition = config.slot(slot)
        switch definition.storage {
        case .block(let spec): return try DeviceResolver.resolve(spec)
        case .directory: return definition.payloadPath!
        }
    }
}
