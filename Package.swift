// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "wharf",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "wharf", targets: ["wharf"])
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        // GET /v1/events/ws: the upgrade on Hummingbird's HTTP/1 channel and the frames.
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        // jwt-kit 5 needs swift-crypto 4; the range keeps both resolvable from the local mirror.
        .package(url: "https://github.com/apple/swift-crypto.git", "4.1.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        // Only the tests use it (HummingbirdTesting brings it in anyway), as a client of child processes.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        // Runtime for the generated WhatsApp protobufs (scripts/generate-protos.sh, output committed).
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        // The native engine's WebSocket client is written on SwiftNIO directly (WhatsApp checks Origin).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // HTTPRequestPart, which the connection guard reads between Hummingbird's decoder and router.
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(
            url: "https://github.com/apple/swift-configuration.git", from: "1.4.0",
            traits: [.defaults, "CommandLineArguments"]),
        // /metrics: swift-metrics is the API the code records to, swift-prometheus writes the exposition text.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Reads the hand-edited OpenAPI document (openapi.yaml) that /openapi.json is derived from.
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        // Streams multipart/form-data uploads of files to send (the parser, not its Codable decoder).
        .package(url: "https://github.com/vapor/multipart-kit.git", from: "4.7.1"),
    ],
    targets: [
        // One place knows libcurl: a system library plus a header of typed wrappers
        // for curl's variadic calls, which Swift cannot import.
        .systemLibrary(
            name: "CCurl",
            path: "Sources/CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // Debian's libqrencode draws the linking QR codes the consoles show.
        .systemLibrary(
            name: "CQRencode",
            path: "Sources/CQRencode",
            pkgConfig: "libqrencode",
            providers: [.apt(["libqrencode-dev"])]
        ),
        // zlib inflates the frames WhatsApp's server compresses.
        .systemLibrary(
            name: "CZlib",
            path: "Sources/CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // libsodium's raw-scalar Ed25519 operations make XEdDSA signatures, which swift-crypto cannot.
        .systemLibrary(
            name: "CSodium",
            path: "Sources/CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        // Media probing for sending: libvips reads images (sizes, JPEG thumbnails, WebP stickers),
        // libopusfile checks voice notes are Ogg Opus and measures them, FFmpeg (through
        // ffmpegthumbnailer) measures videos and takes their thumbnail frame.
        .systemLibrary(
            name: "CVips",
            path: "Sources/CVips",
            pkgConfig: "vips",
            providers: [.apt(["libvips-dev"])]
        ),
        .systemLibrary(
            name: "COpusFile",
            path: "Sources/COpusFile",
            pkgConfig: "opusfile",
            providers: [.apt(["libopusfile-dev"])]
        ),
        .systemLibrary(
            name: "CVideo",
            path: "Sources/CVideo",
            pkgConfig: "libffmpegthumbnailer",
            providers: [.apt(["libffmpegthumbnailer-dev", "libavformat-dev"])]
        ),
        // Shared vocabulary below both engines and the outbox: time and identifiers.
        .target(
            name: "WharfCore",
            path: "Sources/Core",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "WhatsAppProtocol",
            dependencies: [
                "WharfCore",
                "CZlib",
                "CSodium",
                "CVips",
                "COpusFile",
                "CVideo",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Sources/Protocol",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Outbox",
            dependencies: [
                "CCurl",
                "WharfCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Outbox",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Gateway",
            dependencies: [
                "Outbox",
                "WhatsAppProtocol",
                "WharfCore",
                "CQRencode",
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "MultipartKit", package: "multipart-kit"),
            ],
            path: "Sources/Gateway",
            // The OpenAPI document and the consoles' templates, stylesheet and scripts are compiled into
            // the binary: one file to deploy.
            resources: [.embedInCode("OpenAPI/openapi.yaml"), .embedInCode("Web/Resources")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "wharf",
            dependencies: ["Gateway"],
            path: "Sources/wharf",
            swiftSettings: swiftSettings
        ),
        // Prints figures; not a test. `make bench` runs it in release mode.
        .executableTarget(
            name: "wharf-bench",
            dependencies: [
                "Outbox",
                "WharfCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Benchmarks/OutboxBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "wharf-send-bench",
            dependencies: ["Gateway", "WharfCore", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            path: "Benchmarks/SendBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "wharf-web-bench",
            dependencies: [
                "WhatsAppProtocol", "WharfCore", "PeerSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Benchmarks/WebSessionsBenchmark",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CoreTests",
            dependencies: ["WharfCore"],
            swiftSettings: swiftSettings
        ),
        // Drives the Python peers in Tests/peers (the fake WhatsApp server among them) for both test targets.
        .target(
            name: "PeerSupport",
            dependencies: [
                "WhatsAppProtocol", "WharfCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Tests/PeerSupport",
            swiftSettings: swiftSettings
        ),
        // What the Swift test targets share: polling, virtual-time stepping, a locked box. (The Python
        // suites' helper, wharf_process.py, sits next to it.)
        .target(
            name: "TestSupport",
            dependencies: ["WharfCore"],
            path: "Tests/support/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WhatsAppProtocolTests",
            dependencies: [
                // Outbox for its libcurl client, which fetches media from the fake server's media host.
                "WhatsAppProtocol", "WharfCore", "PeerSupport", "TestSupport", "Outbox",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "OutboxTests",
            dependencies: ["Outbox"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Gateway",
                "PeerSupport",
                "TestSupport",
                "WhatsAppProtocol",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
