/// A channel of one kind of device: releases compete only within a track.
struct TrackKey: Hashable, Sendable {
    var channel: String
    var compatible: String
}
