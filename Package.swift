// swift-tools-version:6.2
// slotctl: an A/B/R boot-slot manager and over-the-air updater for Linux devices.
import PackageDescription

/// Every Swift target builds in Swift 6 mode with strict concurrency; the
/// failpoints used by the crash tests exist only in debug builds.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .define("SLOTCTL_FAILPOINTS", .when(configuration: .debug)),
]

/// What the static slot-boot is built from stays free of Swift concurrency and
/// of the string-processing (regex) runtime: without their implicit imports,
/// neither library nor libdispatch is linked into it (1.9 MB of 10.2 MB;
/// Benchmarks/footprint.sh). Set here so that every build enforces it; the
/// Makefile passes the same flags to the static build's dependencies.
let bootSwiftSettings: [SwiftSetting] = swiftSettings + [
    .unsafeFlags([
        "-Xfrontend", "-disable-implicit-concurrency-module-import",
        "-Xfrontend", "-disable-implicit-string-processing-module-import",
    ])
]

let package = Package(
    name: "slotctl",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "slotctl", targets: ["slotctl"]),
        // The update module: `slotctl check|update|daemon` exec it (libexec/slotctl/slotctl-update).
        .executable(name: "slotctl-update", targets: ["slotctl-update"]),
        .executable(name: "slot-boot", targets: ["slot-boot"]),
        .executable(name: "slot-server", targets: ["slot-server"]),
        .library(name: "SlotCore", targets: ["SlotCore", "SlotCrypto"]),
        .library(name: "SlotUpdate", targets: ["SlotUpdate"]),
        .library(name: "SlotServer", targets: ["SlotServer"]),
        // The C API. The Makefile installs it as libslotctl.so.1 (its soname).
        .library(name: "SlotctlCAPI", type: .dynamic, targets: ["CSlotctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Already in the graph through Hummingbird. SlotServer runs its flushers as Services and
        // answers POST /v1/check in a NIO channel handler on the event loop.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        // Already in the graph through PostgresNIO: `serve --tls-cert --tls-key`.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // Already in the graph through NIO: the core's descriptors and errno.
        .package(url: "https://github.com/apple/swift-system.git", from: "1.5.0"),
    ],
    targets: [
        // C libraries and the few Linux facilities Swift cannot spell.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CBlkid", pkgConfig: "blkid", providers: [.apt(["libblkid-dev"])]),
        // The update module's HTTP: libcurl, not URLSession (no Foundation, a CA of our choosing).
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "CSlotSys"),

        // CRC-32, gzip, hex and timestamps: one codec for the core, the
        // client, the server and the tests. zlib only.
        .target(name: "SlotCodec", dependencies: ["CZlib"], swiftSettings: bootSwiftSettings),

        // The low-level core: config, state, boot selection, image writer.
        .target(
            name: "SlotCore",
            dependencies: ["SlotCodec", "CZlib", "CBlkid", "CSlotSys", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: bootSwiftSettings),
        // swift-crypto's SHA-256 for the image writer, kept out of SlotCore so
        // the static boot hook links neither a crypto library nor Foundation.
        .target(
            name: "SlotCrypto",
            dependencies: ["SlotCore", "SlotCodec", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings),

        // Wire types shared by the update client and the server.
        .target(
            name: "SlotWire",
            dependencies: ["SlotCodec", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings),

        // The device side of updates, over libcurl; FoundationEssentials only.
        .target(
            name: "SlotUpdate",
            dependencies: ["SlotCore", "SlotCodec", "SlotCrypto", "SlotWire", "CCurl", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings),

        // The fleet update server as a library.
        .target(
            name: "SlotServer",
            dependencies: [
                "SlotWire", "SlotCodec",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings),

        // The C API, exported through a version script so only slotctl_* is visible.
        // No Foundation: checks and updates run in the update module (slotctl-update),
        // a child process. It also carries slotctl's command line (slotctl_main) for
        // the installed launcher, so that a device holds one copy of the core and
        // the Swift runtime next to the static slot-boot.
        .target(
            name: "CSlotctl",
            dependencies: ["SlotCore", "SlotCrypto", "SlotWire", "SlotctlCommands"],
            exclude: ["slotctl.map"],
            swiftSettings: swiftSettings,
            linkerSettings: [
                .unsafeFlags([
                    "-Xlinker", "-soname=libslotctl.so.1",
                    "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/CSlotctl/slotctl.map",
                    // The library carries its own Swift runtime, whose dispatch threads outlive
                    // any call: dlclose must not unmap it (it would crash those threads).
                    "-Xlinker", "-z", "-Xlinker", "nodelete",
                ])
            ]),

        // What slotctl and its update module share: --config, error reporting, progress bars.
        .target(
            name: "SlotctlCLI",
            dependencies: [
                "SlotCore", "SlotCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings),
        // The command line without Foundation: every command that works on the slots
        // and the state. check, update and daemon exec the update module below.
        // A library: libslotctl.so runs it for the installed launcher.
        .target(
            name: "SlotctlCommands",
            dependencies: [
                "SlotCore", "SlotCodec", "SlotCrypto", "SlotWire", "SlotctlCLI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(name: "slotctl", dependencies: ["SlotctlCommands"], swiftSettings: swiftSettings),
        // check, update, daemon: HTTP over libcurl, kept out of slotctl.
        .executableTarget(
            name: "slotctl-update",
            dependencies: [
                "SlotCore", "SlotUpdate", "SlotWire", "SlotctlCLI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(name: "slot-boot", dependencies: ["SlotCore"], swiftSettings: bootSwiftSettings),
        .executableTarget(
            name: "slot-server",
            dependencies: [
                "SlotServer", "SlotWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings),

        // Sandboxes, temp dirs and process helpers shared by the test targets.
        // Every parser of untrusted bytes as a fuzz target (Fuzz/README.md).
        .target(
            name: "SlotFuzz",
            dependencies: ["SlotCore", "SlotCodec", "SlotWire", "SlotUpdate", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings),
        .executableTarget(name: "slot-fuzz", dependencies: ["SlotFuzz"], swiftSettings: swiftSettings),
        .target(
            name: "SlotTestSupport", dependencies: ["SlotCore", "SlotCodec", "SlotCrypto"], path: "Tests/SlotTestSupport",
            swiftSettings: swiftSettings),
        .testTarget(name: "SlotCoreTests", dependencies: ["SlotCore", "SlotCodec", "SlotCrypto", "SlotTestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "SlotServerTests",
            dependencies: [
                "SlotServer", "SlotWire", "SlotCodec",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                // Creates a throwaway database per PostgreSQL test.
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // NIO's own HTTP/1 decoder judges the fast path's framing.
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "SlotUpdateTests",
            dependencies: ["SlotUpdate", "SlotWire", "SlotCore", "SlotCodec", "SlotCrypto", "SlotFuzz", "SlotTestSupport"],
            swiftSettings: swiftSettings),
        // The device client against the real server, both on loopback.
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["SlotUpdate", "SlotServer", "SlotWire", "SlotCore", "SlotCodec", "SlotTestSupport"],
            swiftSettings: swiftSettings),
    ]
)
