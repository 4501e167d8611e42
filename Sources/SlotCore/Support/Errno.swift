import Glibc

/// A POSIX error number, as the cause of a ``SlotError``.
public struct Errno: Error, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int32

    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    public static var current: Errno { Errno(errno) }

    public var description: String { String(cString: strerror(rawValue)) }

    public static let noSuchFile = Errno(ENOENT)
    public static let wouldBlock = Errno(EWOULDBLOCK)
    public static let interrupted = Errno(EINTR)
    public static let invalidArgument = Errno(EINVAL)
    public static let noSpace = Errno(ENOSPC)
    public static let ioError = Errno(EIO)
    public static let busy = Errno(EBUSY)
}
