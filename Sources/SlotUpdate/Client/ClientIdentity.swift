import FoundationEssentials
import SlotCore

/// The device's client id: a random UUID made once and kept in the state
/// directory, which lives outside A and B and so survives their updates.
/// Rollouts bucket devices by it; operators may hand it to their analytics.
public enum ClientIdentity {
    public static func path(_ config: SystemConfig) -> String { config.stateDirectory + "/client-id" }

    public static func load(_ config: SystemConfig) throws(SlotError) -> String {
        let path = path(config)
        if let bytes = try? FileSystem.readFile(path, limit: 256),
            let text = String(validating: bytes, as: UTF8.self)?.trimmingWhitespace(),
            UUID(uuidString: text) != nil
        {
            return text.lowercased()
        }
        let id = UUID().uuidString.lowercased()
        try FileSystem.makeDirectories(config.stateDirectory)
        try FileSystem.writeFileAtomically(path, Array((id + "\n").utf8))
        return id
    }
}
