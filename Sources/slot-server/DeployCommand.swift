import ArgumentParser
import SlotServer

/// `slot-server deploy ... IMAGE`: sign locally, upload, print the release id.
struct DeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy", abstract: "Sign an image's manifest, upload it and print the new release id.")

    @OptionGroup var admin: AdminOptions

    @Option(help: "The private key file written by keygen (release.key).")
    var key: String

    @Option(help: "The compatible string of the devices this image is for.")
    var compatible: String

    @Option(help: "Channel to deploy to (stable, beta, any name).")
    var channel = "stable"

    @Option(help: "Version of the image.")
    var version: String

    @Option(help: "Security version; devices refuse releases below their floor.")
    var securityVersion: UInt64 = 0

    @Option(help: "Percentage of the channel's devices that get it (0-100, two decimals).")
    var rollout: Double?

    @Flag(help: "Compress the payload with gzip (size and digests still describe the image).")
    var gzip = false

    @Option(help: "Make this release an arm of the named A/B experiment.")
    var experiment: String?

    @Option(help: "Start of the experiment arm's bucket range, percent.")
    var armStart: Double?

    @Option(help: "End (exclusive) of the experiment arm's bucket range, percent.")
    var armEnd: Double?

    @Option(help: "Health gate: at most this many devices in trial at once (offered it, not yet marked-good or failed), plus one for each that confirmed, so a healthy release widens as reports come back. 0: no gate, the percentage alone decides (default: the server's, 100).")
    var maxInTrial: Int?

    @Option(help: "Seconds after which a device in trial that never reported stops holding a place (default: the server's, 3600).")
    var trialTimeout: Int?

    @Option(help: "Serve the payload from this external URL (CDN) instead of uploading it.")
    var url: String?

    @Option(help: "Chunk size of the chunk index for delta downloads, a power of two from 512 to 1048576.")
    var chunkSize = 4096

    @Option(help: "Block size of the chunk index: devices find a chunk of the new image at any multiple of it in their old slot. A power of two from 512 to the chunk size; default: the block size of an ext2/3/4 image, else 4096.")
    var blockSize: Int?

    @Flag(help: "Publish no chunk index: devices always download the whole payload.")
    var noIndex = false

    @Option(help: "With --url: where the chunk index is served (default: this server serves it).")
    var indexUrl: String?

    @Option(help: "Also write the exact payload to FILE and its chunk index to FILE.index, to put on a CDN or static server (--url, --index-url).")
    var writePayload: String?

    @Argument(help: "The image file.")
    var image: String

    func validate() throws {
        if (experiment == nil) != (armStart == nil) || (experiment == nil) != (armEnd == nil) {
            throw ValidationError("--experiment, --arm-start and --arm-end go together")
        }
        if blockSize != nil && noIndex {
            throw ValidationError("--block-size describes the chunk index, which --no-index leaves out")
        }
        if indexUrl != nil && (url == nil || noIndex) {
            throw ValidationError("--index-url goes with --url, and not with --no-index")
        }
        if experiment != nil && rollout != nil {
            throw ValidationError("an experiment arm is sized by --arm-start/--arm-end, not --rollout")
        }
    }

    func run() async throws {
        do throws(ServerError) {
            let client = try admin.client()
            let privateKey = try KeyFiles.read(key, what: "release key")
            var options = Deployer.Options(imagePath: image, compatible: compatible, channel: channel, version: version)
            options.securityVersion = securityVersion
            options.rolloutPercent = rollout
            options.gzip = gzip
            options.externalURL = url
            options.chunkSize = noIndex ? nil : chunkSize
            options.blockSize = blockSize
            options.indexURL = indexUrl
            options.writePayload = writePayload
            options.maxInTrial = maxInTrial
            options.trialTimeoutSeconds = trialTimeout
            if let experiment, let armStart, let armEnd {
                options.experiment = ExperimentArm(name: experiment, start: armStart, end: armEnd)
            }
            let release = try await Deployer(client: client, privateKeyBase64: privateKey).deploy(options)
            printErr("deployed \(release.version) to \(release.channel) as \(release.id): \(release.state.rawValue), rollout \(release.experiment.map { "arm \($0.name) [\($0.start), \($0.end))" } ?? "\(release.rolloutPercent)%")")
            print(release.id)
        } catch {
            throw exitWith(error)
        }
    }
}
