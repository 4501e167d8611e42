/// `POST /v1/enroll-tokens` (admin): a token devices of one product enrol with.
public struct EnrollTokenRequest: Codable, Sendable, Equatable {
    public var product: String
    /// Days until the token stops enrolling; nil: no expiry.
    public var days: Int?

    public init(product: String, days: Int?) {
        self.product = product
        self.days = days
    }
}

/// The token, shown once: the server keeps only its SHA-256.
public struct EnrollTokenInfo: Codable, Sendable, Equatable {
    public var token: String
    public var product: String
    /// ISO 8601, UTC; nil: no expiry.
    public var expires: String?

    public init(token: String, product: String, expires: String?) {
        self.token = token
        self.product = product
        self.expires = expires
    }
}

/// One enrolled device (`GET /v1/devices/enrolled`, `POST /v1/devices/ID/revoke`).
public struct EnrolledDevice: Codable, Sendable, Equatable {
    public var clientId: String
    public var product: String
    /// The raw Ed25519 public key, base64.
    public var publicKey: String
    /// ISO 8601, UTC.
    public var enrolled: String
    /// ISO 8601, UTC; nil while the device is trusted.
    public var revoked: String?

    public init(clientId: String, product: String, publicKey: String, enrolled: String, revoked: String?) {
        self.clientId = clientId
        self.product = product
        self.publicKey = publicKey
        self.enrolled = enrolled
        self.revoked = revoked
    }
}

/// `GET /v1/devices/enrolled?after=SEQ`: in enrolment-change order.
public struct EnrolledDeviceList: Codable, Sendable, Equatable {
    public var devices: [EnrolledDevice]
    /// Pass as `after` for the next page; nil on the last page.
    public var next: Int64?

    public init(devices: [EnrolledDevice], next: Int64?) {
        self.devices = devices
        self.next = next
    }
}
