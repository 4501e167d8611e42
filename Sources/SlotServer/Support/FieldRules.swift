import SlotWire

/// Limits on free-text fields from devices: bounded, printable, so one device
/// cannot bloat the database or forge log lines.
enum FieldRules {
    static func text(_ value: String, _ name: String, max: Int = 128, allowEmpty: Bool = false) throws(ServerError) {
        if value.isEmpty && !allowEmpty { throw ServerError.badRequest("\(name) must not be empty") }
        if value.utf8.count > max { throw ServerError.badRequest("\(name) is longer than \(max) bytes") }
        // In UTF-8 these scalars are single bytes, and no other scalar contains such a byte.
        if value.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) {
            throw ServerError.badRequest("\(name) must not contain control characters")
        }
    }

    static func validate(_ request: CheckRequest) throws(ServerError) {
        try text(request.clientId, "clientId")
        try text(request.compatible, "compatible")
        try text(request.channel, "channel")
        try text(request.version, "version", allowEmpty: true)
        switch request.slot {
        case "A", "B", "R": break
        default:
            throw ServerError.badRequest("slot must be A, B or R, got '\(request.slot.prefix(16))'")
        }
    }

    /// Validates an event and cuts its free-text `detail` to 4096 bytes: a long
    /// error message is no reason to refuse (and so re-send forever) a device's queue.
    static func validated(_ event: DeviceEvent) throws(ServerError) -> DeviceEvent {
        try text(event.clientId, "clientId")
        if let releaseId = event.releaseId { _ = try Identifier(releaseId, what: "releaseId") }
        try text(event.at, "at", max: 64)
        var event = event
        if let detail = event.detail, detail.utf8.count > maxDetail {
            let bytes = Array(detail.utf8)
            // Cut before the character that straddles the limit (bytes[end] is the first byte dropped).
            var end = maxDetail
            while end > 0 && bytes[end] & 0xC0 == 0x80 { end -= 1 }
            event.detail = String(decoding: bytes[..<end], as: UTF8.self)
        }
        return event
    }

    static let maxDetail = 4096
}
