import ArgumentParser
import SlotServer

/// `slot-server devices …`: devices as their checks left them, enrolled
/// devices, revocation.
struct DevicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices", abstract: "List devices, list enrolled devices, revoke one.",
        subcommands: [DevicesListCommand.self, DevicesEnrolledCommand.self, DevicesRevokeCommand.self],
        defaultSubcommand: DevicesListCommand.self)
}

/// `slot-server devices [list] [--json]`: every device that checked in, its
/// identity (enrolled as which product, revoked, or anonymous) and its last
/// check, paging through the server.
struct DevicesListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List devices that checked in: identity (enrolled, revoked, anonymous) and last check.")

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

/// `slot-server devices enrolled [--json]`: every enrolled device, revoked ones included.
struct DevicesEnrolledCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enrolled", abstract: "List enrolled devices: client id, product, enrolment and revocation times.")

    @OptionGroup var admin: AdminOptions

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        do throws(ServerError) {
            let client = try admin.client()
            var devices: [EnrolledDevice] = []
            var after: Int64 = 0
            while true {
                let page = try await client.enrolledDevices(after: after)
                devices += page.devices
                guard let next = page.next else { break }
                after = next
            }
            if json {
                try? printJSON(EnrolledDeviceList(devices: devices, next: nil))
            } else {
                print(AdminFormatting.enrolled(devices))
                printErr("enrolled: \(devices.count), revoked: \(devices.filter { $0.revoked != nil }.count)")
            }
        } catch {
            throw exitWith(error)
        }
    }
}

/// `slot-server devices revoke ID`: the device's checks and events are refused from now on.
struct DevicesRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke an enrolled device: its checks, events and sessions are refused (401) on every replica within a refresh interval.")

    @OptionGroup var admin: AdminOptions

    @Argument(help: "The device's client id.")
    var clientId: String

    func run() async throws {
        do throws(ServerError) {
            let device = try await admin.client().revokeDevice(clientId)
            print("revoked \(device.clientId) (\(device.product)) at \(device.revoked ?? "?")")
        } catch {
            throw exitWith(error)
        }
    }
}

/// `slot-server enroll-token --product P [--days N] [--out FILE]`: a token
/// for the factory image; devices enrol with it once.
struct EnrollTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll-token",
        abstract: "Make an enrolment token for one product (shown once; the server keeps only its hash).")

    @OptionGroup var admin: AdminOptions

    @Option(help: "The product the token enrols devices as (shown in 'devices enrolled').")
    var product: String

    @Option(help: "Days the token stays valid (default: no expiry).")
    var days: Int?

    @Option(help: "Write the token to this file (mode 0600) instead of printing it: the file for [update] enroll-token.")
    var out: String?

    func run() async throws {
        do throws(ServerError) {
            let info = try await admin.client().makeEnrollToken(EnrollTokenRequest(product: product, days: days))
            if let out {
                try KeyFiles.write(info.token + "\n", to: out, mode: 0o600)
                printErr("enrolment token for \(info.product) written to \(out)\(info.expires.map { ", valid until \($0)" } ?? "")")
            } else {
                print(info.token)
            }
        } catch {
            throw exitWith(error)
        }
    }
}

/// `slot-server ddi-token CONTROLLER-ID`: the `TargetToken` a SWUpdate device
/// gives suricatta (`swupdate -u '... -i ID -k TOKEN'`).
struct DDITokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ddi-token",
        abstract: "Print the TargetToken of a SWUpdate (hawkBit DDI) device: derived from its controller id, the same every time.")

    @OptionGroup var admin: AdminOptions

    @Argument(help: "The device's controller id (suricatta's -i).")
    var controllerId: String

    func run() async throws {
        do throws(ServerError) {
            print(try await admin.client().ddiTarget(controllerId: controllerId).token)
        } catch {
            throw exitWith(error)
        }
    }
}
