import Foundation
import SlotCore

/// Which release each slot holds (`state/releases`: `A=<release id>` lines),
/// so a boot, confirmation or fallback of a slot is reported against the
/// release the server shipped into it.
public struct ReleaseLedger: Sendable {
    public let path: String

    public init(config: SystemConfig) {
        path = config.stateDirectory + "/releases"
    }

    public func releases() -> [SlotName: String] {
        guard let bytes = try? FileSystem.readFile(path, limit: 64 * 1024) else { return [:] }
        var result: [SlotName: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let slot = SlotName(rawValue: String(parts[0])) { result[slot] = String(parts[1]) }
        }
        return result
    }

    public func record(_ releaseId: String?, for slot: SlotName) throws(SlotError) {
        var all = releases()
        all[slot] = releaseId
        let text = all.sorted { $0.key < $1.key }.map { "\($0.key.rawValue)=\($0.value)\n" }.joined()
        try FileSystem.writeFileAtomically(path, Array(text.utf8))
    }
}
