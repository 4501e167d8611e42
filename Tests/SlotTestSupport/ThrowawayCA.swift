import Foundation

/// A certificate authority made at test time with `openssl`, and a server
/// certificate it signed for 127.0.0.1: TLS tests trust exactly this CA,
/// never the machine's store.
public struct ThrowawayCA {
    /// The CA certificate (PEM): what a device pins.
    public let caFile: String
    /// The server's certificate and key (PEM), signed by the CA.
    public let certFile: String
    public let keyFile: String

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Makes the CA and a server certificate under `dir`, with `name` in their file names.
    public init(in dir: TempDirectory, name: String = "ca") throws {
        caFile = dir.file("\(name).pem")
        certFile = dir.file("\(name)-server.pem")
        keyFile = dir.file("\(name)-server.key")
        let caKey = dir.file("\(name).key"), request = dir.file("\(name)-server.csr"), extensions = dir.file("\(name)-server.ext")
        dir.write("\(name)-server.ext", "subjectAltName = IP:127.0.0.1, DNS:localhost\n")
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
             "-subj", "/CN=slotctl throwaway test CA (\(name))", "-keyout", caKey, "-out", caFile],
            ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-subj", "/CN=127.0.0.1", "-keyout", keyFile, "-out", request],
            ["x509", "-req", "-in", request, "-CA", caFile, "-CAkey", caKey, "-CAcreateserial", "-days", "2",
             "-extfile", extensions, "-out", certFile],
        ]
        for arguments in steps {
            let result = CLI.run("/usr/bin/openssl", arguments)
            guard result.status == 0 else {
                throw Failure(description: "openssl \(arguments.prefix(2).joined(separator: " ")) failed: \(result.stderr)")
            }
        }
    }
}
