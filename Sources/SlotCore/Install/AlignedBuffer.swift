import Glibc

/// A page-aligned buffer (O_DIRECT needs aligned memory) passed between the
/// image writer's threads. Whoever holds it from a queue owns it.
struct AlignedBuffer: @unchecked Sendable {
    static let alignment = 4096

    let base: UnsafeMutableRawPointer
    let capacity: Int
    var count = 0

    init(capacity: Int) {
        var pointer: UnsafeMutableRawPointer?
        let rc = posix_memalign(&pointer, Self.alignment, capacity)
        precondition(rc == 0 && pointer != nil, "posix_memalign(\(capacity)) failed: \(rc)")
        base = pointer!
        self.capacity = capacity
    }

    func free() { Glibc.free(base) }

    var filled: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
    var spare: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: base + count, count: capacity - count) }
}
