import Testing

// The device client against the real SlotServer on loopback lands with the server.
@Suite struct ServerClientTests {}
