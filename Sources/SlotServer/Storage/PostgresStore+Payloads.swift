import NIOCore
import PostgresNIO

/// The rows behind ``DatabasePayloads`` (schema ``PostgresSchema/v4``).
extension PostgresStore {
    func beginPayloadUpload(_ upload: String, releaseId: String, chunkSize: Int, atMillis: Int64) async throws(ServerError) {
        _ = try await query("starting an upload of \(releaseId)") { connection, logger in
            try await connection.query(
                """
                INSERT INTO payload_uploads (upload_id, release_id, chunk_size, started_ms)
                VALUES (\(upload), \(releaseId), \(Int32(chunkSize)), \(atMillis))
                """, logger: logger)
        }
    }

    func insertPayloadChunk(_ upload: String, seq: Int, data: ByteBuffer) async throws(ServerError) {
        _ = try await query("storing chunk \(seq) of upload \(upload)") { connection, logger in
            try await connection.query(
                "INSERT INTO payload_chunks (upload_id, seq, data) VALUES (\(upload), \(Int32(seq)), \(data))", logger: logger)
        }
    }

    /// Marks the upload complete after counting what the database holds: the
    /// chunks must be `chunks` rows, `0..<chunks`, of `bytes` in all.
    func completePayloadUpload(_ upload: String, chunks: Int, bytes: Int64, atMillis: Int64) async throws(ServerError) {
        try await transaction("completing upload \(upload)") { connection, logger in
            let rows = try await connection.query(
                """
                SELECT COUNT(*), COALESCE(MAX(seq), -1), COALESCE(SUM(octet_length(data)), 0)::BIGINT
                FROM payload_chunks WHERE upload_id = \(upload)
                """, logger: logger)
            for try await (count, maxSeq, total) in rows.decode((Int64, Int32, Int64).self) {
                guard count == chunks, maxSeq == chunks - 1, total == bytes else {
                    throw ServerError.storage(
                        "upload \(upload): the database holds \(count) chunks of \(total) bytes, expected \(chunks) of \(bytes)")
                }
            }
            try await connection.query(
                "UPDATE payload_uploads SET completed_ms = \(atMillis) WHERE upload_id = \(upload)", logger: logger)
        }
    }

    func removePayloadUpload(_ upload: String) async throws(ServerError) {
        _ = try await query("removing upload \(upload)") { connection, logger in
            try await connection.query("DELETE FROM payload_uploads WHERE upload_id = \(upload)", logger: logger)
        }
    }

    func removeIncompletePayloadUploads(startedBefore millis: Int64) async throws(ServerError) {
        _ = try await query("removing cut-off uploads") { connection, logger in
            try await connection.query(
                "DELETE FROM payload_uploads WHERE completed_ms IS NULL AND started_ms < \(millis)", logger: logger)
        }
    }

    /// The completed upload holding the payload of `releaseId`, and its chunk
    /// size. Any will do when there are several (two replicas took the same
    /// upload at once): each was verified against the same signed manifest.
    func payloadUpload(releaseId: String) async throws(ServerError) -> (upload: String, chunkSize: Int)? {
        try await query("finding the payload of \(releaseId)") { connection, logger in
            let rows = try await connection.query(
                """
                SELECT upload_id, chunk_size FROM payload_uploads
                WHERE release_id = \(releaseId) AND completed_ms IS NOT NULL ORDER BY completed_ms LIMIT 1
                """, logger: logger)
            for try await (upload, chunkSize) in rows.decode((String, Int32).self) { return (upload, Int(chunkSize)) }
            return nil
        }
    }

    /// Chunks `from...through` of an upload, in order.
    func payloadChunks(_ upload: String, from: Int, through: Int) async throws(ServerError) -> [(seq: Int, data: ByteBuffer)] {
        try await query("reading chunks \(from)-\(through) of upload \(upload)") { connection, logger in
            var chunks: [(seq: Int, data: ByteBuffer)] = []
            let rows = try await connection.query(
                """
                SELECT seq, data FROM payload_chunks
                WHERE upload_id = \(upload) AND seq BETWEEN \(Int32(from)) AND \(Int32(through)) ORDER BY seq
                """, logger: logger)
            for try await (seq, data) in rows.decode((Int32, ByteBuffer).self) { chunks.append((Int(seq), data)) }
            return chunks
        }
    }
}
