import Foundation
import SlotCore
import SlotTestSupport
@testable import SlotUpdate
import SlotWire
import Testing

/// The device's side of identity that needs no server: the key file, and
/// the request clock a device without a real-time clock takes from the server.
@Suite struct DeviceIdentityTests {
    func identity(_ box: Sandbox) throws -> DeviceIdentity { try DeviceIdentity(config: box.manager.config) }

    @Test func theKeyIsMadeOncePrivateAndNeverSilentlyReplaced() throws {
        let box = try Sandbox(slotSize: 1 << 20, extra: "[update]\nserver = http://127.0.0.1:9\n")
        let first = try identity(box)
        let path = box.dir.file("state/device.key")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try identity(box).clientId == first.clientId, "the same key on every load")
        #expect(first.clientId == DeviceAuth.clientId(publicKey: first.key.publicKey))
        #expect(!first.signs(server: "http://127.0.0.1:9/"), "no token, never enrolled: plain requests")

        box.dir.write("state/device.key", "not a key\n")
        #expect(throws: SlotError.self) { _ = try identity(box) }
        #expect(box.dir.read("state/device.key") == Array("not a key\n".utf8), "a damaged key is left for the operator to see")
    }

    @Test func requestTimesGrowAndFollowTheServersClockOnceToldIt() throws {
        let box = try Sandbox(slotSize: 1 << 20, extra: "[update]\nserver = http://127.0.0.1:9\n")
        let device = try identity(box)
        let a = device.nextTimeMillis()
        let b = device.nextTimeMillis()
        #expect(b > a, "never the same time twice")

        let now = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(!device.adoptServerClock(nil) && !device.adoptServerClock("soon") && !device.adoptServerClock("+123"))
        // A server an hour ahead (or a device an hour behind): the next times are the server's.
        #expect(device.adoptServerClock(String(now + 3_600_000)))
        let adjusted = device.nextTimeMillis()
        #expect(abs(adjusted - (now + 3_600_000)) < 5_000, "\(adjusted) vs \(now + 3_600_000)")
        // And back: a server behind the device's clock pulls the times back too.
        #expect(device.adoptServerClock(String(now - 3_600_000)))
        #expect(abs(device.nextTimeMillis() - (now - 3_600_000)) < 5_000)
    }
}
