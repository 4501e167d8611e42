import Hummingbird
import NIOCore

/// Hummingbird's basic request context plus the peer's address, which the
/// per-address rate limits of `/v1/check` and `/v1/events` count by.
public struct SlotRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: Source) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The address as a rate-limit key: the IP without the port.
    var peer: String? { remoteAddress?.ipAddress }
}
