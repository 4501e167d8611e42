/// An enrolled device: its public key, the product its enrolment token was
/// for, and whether an operator revoked it. `changeSeq` grows with every
/// enrolment and revocation, so replicas reload only what changed.
public struct DeviceKeyRecord: Sendable, Equatable {
    public var clientId: String
    /// The raw Ed25519 public key, base64.
    public var publicKey: String
    public var product: String
    public var enrolledMillis: Int64
    public var revokedMillis: Int64?
    public var changeSeq: Int64

    public init(clientId: String, publicKey: String, product: String, enrolledMillis: Int64, revokedMillis: Int64? = nil, changeSeq: Int64 = 0) {
        self.clientId = clientId
        self.publicKey = publicKey
        self.product = product
        self.enrolledMillis = enrolledMillis
        self.revokedMillis = revokedMillis
        self.changeSeq = changeSeq
    }
}

/// An enrolment token as the store keeps it: only its SHA-256, so a copy of
/// the database enrols nothing.
public struct EnrollTokenRecord: Sendable, Equatable {
    public var sha256: String
    public var product: String
    public var createdMillis: Int64
    public var expiresMillis: Int64?

    public init(sha256: String, product: String, createdMillis: Int64, expiresMillis: Int64?) {
        self.sha256 = sha256
        self.product = product
        self.createdMillis = createdMillis
        self.expiresMillis = expiresMillis
    }
}

/// What both stores decide the same way.
enum DeviceKeyRules {
    /// A device enrolling again (it lost the answer, or its state was
    /// restored) is welcome with the same key; a revoked one is not.
    static func reEnrolment(of existing: DeviceKeyRecord, as device: DeviceKeyRecord) throws(ServerError) {
        if existing.revokedMillis != nil {
            throw ServerError(.deviceRevoked, "device \(device.clientId) is revoked")
        }
        guard existing.publicKey == device.publicKey else {
            throw ServerError.conflict("device \(device.clientId) is enrolled with another key")
        }
    }
}
