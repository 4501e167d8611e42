import Glibc
@_exported import struct SystemPackage.Errno

/// swift-system's `Errno` is the cause of every failed syscall; these are
/// the few the core names.
extension Errno {
    /// The calling thread's current `errno`.
    static var current: Errno { Errno(rawValue: Glibc.errno) }
    static let noSuchFile = Errno.noSuchFileOrDirectory
    static let busy = Errno.resourceBusy
}
