import ArgumentParser
import SlotServer

/// `slot-server keygen --out DIR`: a new Ed25519 release key pair.
struct KeygenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen", abstract: "Write a new release signing key pair (release.key 0600, release.pub).")

    @Option(help: "Directory to write release.key and release.pub into.")
    var out: String

    func run() async throws {
        do throws(ServerError) {
            try KeyFiles.generate(into: out)
            print("\(out)/release.key  (private: keep it with the operator)")
            print("\(out)/release.pub  (public: for devices' [update] public-key and serve --release-key)")
        } catch {
            throw exitWith(error)
        }
    }
}
