import Foundation

/// The JSON of hawkBit's Direct Device Integration API: the subset SWUpdate's
/// suricatta reads and writes (`/work/notes/research-hawkbit-ddi.md` holds
/// what the Debian build was seen to do). Field names are hawkBit's.
enum DDIWire {
    struct Link: Encodable, Equatable {
        var href: String
    }

    /// `GET /{tenant}/controller/v1/{controllerId}`: when to poll again and what to do.
    struct Base: Encodable {
        struct Config: Encodable {
            struct Polling: Encodable { var sleep: String }
            var polling: Polling
        }
        var config: Config
        var _links: [String: Link]

        init(sleep: String, links: [String: Link]) {
            config = Config(polling: .init(sleep: sleep))
            _links = links
        }
    }

    /// `GET …/deploymentBase/{actionId}`.
    struct Deployment: Encodable {
        struct Body: Encodable {
            /// Anything but `forced` or `attempt` makes suricatta skip the action.
            var download = "forced"
            var update = "forced"
            var chunks: [Chunk]
        }
        var id: String
        var deployment: Body
    }

    struct Chunk: Encodable {
        var part: String
        var version: String
        var name: String
        var artifacts: [Artifact]
    }

    struct Artifact: Encodable {
        struct Hashes: Encodable {
            /// Lower-case hex: suricatta compares its first 20 characters, case-sensitively.
            var sha1: String
            var sha256: String
        }
        /// Must end in `.swu`, or suricatta passes the artifact over.
        var filename: String
        var size: UInt64
        var hashes: Hashes
        var _links: [String: Link]
    }

    /// `GET …/cancelAction/{id}`: `stopId` names the action to stop.
    struct Cancel: Encodable {
        struct Action: Encodable { var stopId: String }
        var id: String
        var cancelAction: Action
    }

    /// `HH:MM:SS`: suricatta reads it with `strptime`, so at most 23:59:59,
    /// and 00:00:00 means its own default.
    static func sleep(seconds: Int) -> String {
        let s = min(max(seconds, 1), 23 * 3600 + 59 * 60 + 59)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : String(n) }
        return "\(two(s / 3600)):\(two(s / 60 % 60)):\(two(s % 60))"
    }
}
