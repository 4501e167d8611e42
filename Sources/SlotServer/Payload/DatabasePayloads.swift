import Foundation
import Hummingbird
import NIOCore
import SlotCodec

/// Payloads as rows of PostgreSQL (`payload_uploads`, `payload_chunks`), so
/// any replica on the database serves any payload and the instances keep no
/// state of their own. An upload writes fixed-size chunks as they arrive
/// under a fresh upload id; it becomes the release's payload only once
/// complete and counted. A read fetches a few chunks per query, so a
/// download holds a pool connection only briefly and never the whole payload.
///
/// A payload published into the data directory before the switch to the
/// database is still served from there.
struct DatabasePayloads: PayloadStore {
    let store: PostgresStore
    /// Payloads published before `--payloads database`.
    let fallback: PayloadDirectory

    var description: String { "PostgreSQL (\(PayloadChunks.size >> 20) MiB rows)" }

    func removeStaleUploads() async {
        await fallback.removeStaleUploads()
        let before = Timestamp.nowMillis() - Int64(PayloadChunks.staleUploadSeconds * 1000)
        try? await store.removeIncompletePayloadUploads(startedBefore: before)
    }

    func beginUpload(_ id: Identifier) async throws(ServerError) -> any PayloadUpload {
        let upload = UUID().uuidString.lowercased()
        try await store.beginPayloadUpload(upload, releaseId: id.value, chunkSize: PayloadChunks.size, atMillis: Timestamp.nowMillis())
        return ChunkedUpload(store: store, upload: upload)
    }

    func read(_ id: Identifier, range: ClosedRange<Int>, context: SlotRequestContext) async throws(ServerError) -> ResponseBody {
        guard let (upload, chunkSize) = try await store.payloadUpload(releaseId: id.value) else {
            return try await fallback.read(id, range: range, context: context)
        }
        let store = store
        return ResponseBody(contentLength: range.count) { writer in
            var next = range.lowerBound / chunkSize
            let last = range.upperBound / chunkSize
            while next <= last {
                let through = min(last, next + PayloadChunks.perQuery - 1)
                let chunks = try await store.payloadChunks(upload, from: next, through: through)
                for (seq, data) in chunks {
                    guard seq == next else {
                        throw ServerError.storage("chunk \(next) of payload \(id) is missing from the database")
                    }
                    let start = seq * chunkSize
                    // The part of this chunk inside the range.
                    let from = max(range.lowerBound - start, 0)
                    let to = min(range.upperBound - start + 1, data.readableBytes)
                    guard from < to, let slice = data.getSlice(at: data.readerIndex + from, length: to - from) else {
                        throw ServerError.storage("chunk \(seq) of payload \(id) is shorter than the range needs")
                    }
                    try await writer.write(slice)
                    next += 1
                }
                if chunks.isEmpty { throw ServerError.storage("chunk \(next) of payload \(id) is missing from the database") }
            }
            try await writer.finish(nil)
        }
    }
}

/// The layout of payloads in the database.
enum PayloadChunks {
    /// Bytes a row: large enough that a 1 GiB payload is 1 024 inserts, small
    /// enough that a `Range` read or a retry costs little.
    static let size = 1 << 20
    /// Rows fetched by one query of a read.
    static let perQuery = 4
    /// An upload not finished after this long was cut off (by a crash, or a
    /// client that went away) and is removed at the next start.
    static let staleUploadSeconds: Double = 24 * 3600
}

/// Accumulates the request body into full chunks and inserts each one while
/// the next arrives: one insert in flight, so at most two chunks in memory.
private final class ChunkedUpload: PayloadUpload {
    let store: PostgresStore
    let upload: String
    private var pending = ByteBuffer()
    private var seq = 0
    private var stored: UInt64 = 0
    private var inFlight: Task<ServerError?, Never>?

    init(store: PostgresStore, upload: String) {
        self.store = store
        self.upload = upload
    }

    func append(_ buffer: ByteBuffer) async throws(ServerError) {
        var buffer = buffer
        pending.writeBuffer(&buffer)
        while pending.readableBytes >= PayloadChunks.size {
            try await flush(pending.readSlice(length: PayloadChunks.size)!)
        }
        pending.discardReadBytes()
    }

    func commit(size: UInt64) async throws(ServerError) {
        if pending.readableBytes > 0 { try await flush(pending.readSlice(length: pending.readableBytes)!) }
        try await settle()
        guard stored == size else {
            throw ServerError(.internal, "kept \(stored) bytes of a \(size)-byte upload")
        }
        try await store.completePayloadUpload(upload, chunks: seq, bytes: Int64(size), atMillis: Timestamp.nowMillis())
    }

    func discard() async {
        _ = await inFlight?.value
        try? await store.removePayloadUpload(upload)
    }

    private func flush(_ chunk: ByteBuffer) async throws(ServerError) {
        try await settle()
        let (store, upload, seq) = (store, upload, seq)
        inFlight = Task {
            do throws(ServerError) {
                try await store.insertPayloadChunk(upload, seq: seq, data: chunk)
                return nil
            } catch {
                return error
            }
        }
        self.seq += 1
        stored += UInt64(chunk.readableBytes)
    }

    /// Waits for the insert in flight; its failure is the upload's.
    private func settle() async throws(ServerError) {
        guard let task = inFlight else { return }
        inFlight = nil
        if let error = await task.value { throw error }
    }
}
