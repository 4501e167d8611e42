import Hummingbird
import NIOCore

/// Where published payloads live: a directory (one instance, or replicas
/// sharing a mount) or PostgreSQL (replicas that share nothing else). Either
/// way an upload becomes visible only once it is complete and verified, and
/// reads stream: a payload is never whole in memory.
protocol PayloadStore: Sendable {
    /// Where payloads go, for the start-up log.
    var description: String { get }

    /// Removes what uploads cut off by a crash left behind.
    func removeStaleUploads() async

    /// Starts receiving the payload of `id`.
    func beginUpload(_ id: Identifier) async throws(ServerError) -> any PayloadUpload

    /// The bytes `range` of the published payload of `id`; `notFound` when this store does not hold it.
    func read(_ id: Identifier, range: ClosedRange<Int>, context: SlotRequestContext) async throws(ServerError) -> ResponseBody
}

/// One payload being received. The route verifies the bytes against the
/// signed manifest; the upload only keeps them, then makes them visible
/// (``commit()``) or leaves no trace (``discard()``).
protocol PayloadUpload: AnyObject {
    func append(_ buffer: ByteBuffer) async throws(ServerError)
    /// Durable and visible under the release id; `size` is what the verifier
    /// counted, which the store checks against what it kept.
    func commit(size: UInt64) async throws(ServerError)
    func discard() async
}

/// `serve --payloads`: the default follows the database (PostgreSQL: the
/// database, so replicas are stateless; SQLite: the data directory).
public enum PayloadStorage: String, Sendable, CaseIterable {
    case directory
    case database
}
