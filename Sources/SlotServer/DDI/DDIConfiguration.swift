/// `serve --ddi-…`: the hawkBit Direct Device Integration face, for devices
/// that run SWUpdate's suricatta (`swupdate -u '-t TENANT -u HOST:PORT -i ID -k TOKEN'`).
/// Every DDI device is on one track of the catalog: `compatible` and `channel`.
public struct DDIConfiguration: Sendable, Equatable {
    /// The `-t` the devices use; matched case-insensitively (hawkBit's default is `DEFAULT`).
    public var tenant: String
    public var compatible: String
    public var channel: String
    /// `Authorization: GatewayToken …`, one for every device; nil: only target tokens.
    public var gatewayToken: String?
    /// What `config.polling.sleep` tells devices.
    public var pollSeconds: Int

    public init(tenant: String = "DEFAULT", compatible: String, channel: String = "stable", gatewayToken: String? = nil, pollSeconds: Int = 300) {
        self.tenant = tenant
        self.compatible = compatible
        self.channel = channel
        self.gatewayToken = gatewayToken
        self.pollSeconds = pollSeconds
    }
}
