import ArgumentParser
import SlotServer

/// `slot-server devices [--json]`: every device's last check, paging through the server.
struct DevicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "devices", abstract: "List devices and their last check.")

    @OptionGroup var admin: AdminOptions

    @Flag(help: "Print JSON.")
    var json = false

    @Option(help: "Print at most this many devices.")
    var limit = 100_000

    func run() async throws {
        do throws(ServerError) {
            let client = try admin.client()
            var devices: [DeviceInfo] = []
            var after: String?
            var total = 0
            repeat {
                let page = try await client.devices(limit: min(1000, max(1, limit - devices.count)), after: after)
                devices += page.devices
                total = page.total
                after = page.next
            } while after != nil && devices.count < limit
            if json {
                try? printJSON(DeviceList(total: total, devices: devices, next: after))
            } else {
                print(AdminFormatting.devices(devices))
                printErr("\(devices.count) of \(total) devices")
            }
        } catch {
            throw exitWith(error)
        }
    }
}
