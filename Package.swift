// swift-tools-version: 6.1
import PackageDescription

// Slipway: event-sourced ML lifecycle platform. One package, many executables.
// Each service is a thin executable (`Services/<Name>`) over a library (`Services/<Name>Core`);
// mechanics every service shares live in `Shared/`.

let log = Target.Dependency.product(name: "Logging", package: "swift-log")
let metrics = Target.Dependency.product(name: "Metrics", package: "swift-metrics")
let lifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
let hummingbirdTesting = Target.Dependency.product(name: "HummingbirdTesting", package: "hummingbird")
let postgres = Target.Dependency.product(name: "PostgresNIO", package: "postgres-nio")
let httpClient = Target.Dependency.product(name: "AsyncHTTPClient", package: "async-http-client")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let protobuf = Target.Dependency.product(name: "SwiftProtobuf", package: "swift-protobuf")
let asyncAlgorithms = Target.Dependency.product(name: "AsyncAlgorithms", package: "swift-async-algorithms")
let httpTypes = Target.Dependency.product(name: "HTTPTypes", package: "swift-http-types")
let prometheus = Target.Dependency.product(name: "Prometheus", package: "swift-prometheus")
let crypto = Target.Dependency.product(name: "Crypto", package: "swift-crypto")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioHTTP1 = Target.Dependency.product(name: "NIOHTTP1", package: "swift-nio")
let alwaysOptimized: [SwiftSetting] = [.unsafeFlags(["-O"])]

/// The six domain services share one shape: a Core library on the platform shell and a thin executable.
let domainServices: [(executable: String, module: String, dependencies: [Target.Dependency])] = [
    ("training-svc", "Training", ["RecommenderKit", "SlipwayModelBundle", crypto, httpTypes, nioHTTP1]),
    ("registry-svc", "Registry", [protobuf]),
    ("schedule-svc", "Schedule", [crypto, httpTypes]),
    ("deploy-svc", "Deploy", [crypto, "SlipwayLocalRuntime", httpClient, asyncAlgorithms]),
    ("testing-svc", "Testing", ["RecommenderKit", "SlipwayModelBundle", "SlipwayLoadGenerator", "SlipwayStatistics", httpClient, httpTypes, nioCore, nioHTTP1, protobuf]),
    ("metrics-svc", "Metrics", ["SlipwayStatistics", "SlipwayKafka", protobuf, crypto, httpClient]),
]

var targets: [Target] = [
    .systemLibrary(
        name: "CRdKafka",
        path: "Shared/CRdKafka",
        pkgConfig: "rdkafka",
        providers: [.apt(["librdkafka-dev"])]
    ),
    .target(name: "SlipwayKafka", dependencies: ["CRdKafka", log], path: "Shared/SlipwayKafka"),
    .target(name: "SlipwayContracts", dependencies: [protobuf], path: "Shared/SlipwayContracts"),
    .target(
        name: "SlipwayEventSourcing",
        dependencies: ["SlipwayKafka", "SlipwayContracts", "SlipwayStatistics", protobuf, postgres, log, metrics, lifecycle, httpClient, nioCore, nioPosix, asyncAlgorithms],
        path: "Shared/SlipwayEventSourcing"
    ),
    .target(
        name: "SlipwayPlatform",
        dependencies: ["SlipwayEventSourcing", "SlipwayKafka", "SlipwayContracts", "SlipwayStatistics", hummingbird, httpTypes, nioCore, nioHTTP1, postgres, httpClient, log, metrics,
                       prometheus, lifecycle, argumentParser, asyncAlgorithms, crypto],
        path: "Shared/SlipwayPlatform"
    ),
    .target(name: "SlipwayLocalRuntime", dependencies: ["SlipwayStatistics", log], path: "Shared/SlipwayLocalRuntime"),
    // testing-svc's load generator (keep-alive HTTP/1.1 on SwiftNIO), also run by `slipway bench loadtest` beside wrk.
    .target(name: "SlipwayLoadGenerator", dependencies: ["SlipwayStatistics", nioCore, nioPosix, nioHTTP1], path: "Shared/SlipwayLoadGenerator"),
    // Statistics metrics-svc computes: mergeable summaries (latency sketch, distinct counter) stored per bucket and
    // merged per window, and drift statistics (PSI, KS, Jensen–Shannon). Optimised in every build: the rollup ingest
    // adds every request to a sketch.
    .target(name: "SlipwayStatistics", path: "Shared/SlipwayStatistics", swiftSettings: alwaysOptimized),
    .testTarget(name: "SlipwayStatisticsTests", dependencies: ["SlipwayStatistics"], path: "Tests/SlipwayStatisticsTests"),

    // Numeric kernels are optimised in every build: unoptimised, training and scoring run ~30x slower,
    // which would make the debug build's end-to-end tests (real training runs) take minutes.
    .target(name: "SlipwayModelBundle", dependencies: ["SlipwayStatistics"], path: "Shared/SlipwayModelBundle", swiftSettings: alwaysOptimized),
    // The recommender ML library (towers, training loop, evaluation, bundle export): what slipway-trainer runs.
    .target(name: "RecommenderKit", dependencies: ["SlipwayModelBundle", "SlipwayStatistics"], path: "Shared/RecommenderKit", swiftSettings: alwaysOptimized),
    .executableTarget(name: "slipway-trainer", dependencies: ["RecommenderKit", "SlipwayModelBundle", argumentParser], path: "Services/SlipwayTrainer"),
    .executableTarget(name: "bundle-bench", dependencies: ["SlipwayModelBundle"], path: "Services/BundleBench"),
    .testTarget(name: "SlipwayModelBundleTests", dependencies: ["SlipwayModelBundle"], path: "Tests/SlipwayModelBundleTests"),
    .testTarget(name: "RecommenderKitTests", dependencies: ["RecommenderKit", "SlipwayModelBundle", "SlipwayStatistics"], path: "Tests/RecommenderKitTests"),

    // model-server: HTTP/1.1 straight on SwiftNIO (requests scored on the event loop that read them).
    .target(name: "ModelServerCore",
            dependencies: ["SlipwayModelBundle", "SlipwayPlatform", "SlipwayContracts", .product(name: "NIOCore", package: "swift-nio"), nioPosix,
                           .product(name: "NIOHTTP1", package: "swift-nio"), httpTypes, lifecycle, log],
            path: "Services/ModelServerCore"),
    .executableTarget(name: "model-server", dependencies: ["ModelServerCore", "SlipwayModelBundle", "SlipwayPlatform", nioPosix, argumentParser, lifecycle, log],
                      path: "Services/ModelServer"),
    .testTarget(name: "ModelServerTests", dependencies: ["ModelServerCore", "SlipwayModelBundle", .product(name: "NIOCore", package: "swift-nio"), nioPosix],
                path: "Tests/ModelServerTests"),

    // The public prediction entry point: API keys, weighted sticky split across revisions, request logs.
    .target(name: "ServingRouterCore",
            dependencies: ["SlipwayPlatform", "SlipwayEventSourcing", "SlipwayKafka", "SlipwayContracts", "SlipwayStatistics", hummingbird, httpTypes, httpClient,
                           nioCore, nioPosix, nioHTTP1, crypto, protobuf, log, metrics, lifecycle],
            path: "Services/ServingRouterCore"),
    .executableTarget(name: "serving-router", dependencies: ["ServingRouterCore", "SlipwayPlatform", argumentParser, log, lifecycle],
                      path: "Services/ServingRouter"),
    .testTarget(name: "ServingRouterTests",
                dependencies: ["SlipwayTestSupport", "ServingRouterCore", "MetricsCore", "SlipwayModelBundle", "SlipwayEventSourcing", "SlipwayPlatform", "SlipwayContracts", "SlipwayKafka", "SlipwayStatistics",
                               hummingbird, hummingbirdTesting, httpTypes, httpClient, log],
                path: "Tests/ServingRouterTests"),

    // The public REST entry point: authentication (users, roles, API tokens: the gateway context), routing to services.
    .target(name: "GatewayCore", dependencies: ["SlipwayPlatform", "SlipwayEventSourcing", "SlipwayContracts", "SlipwayKafka", "ModelServerCore", hummingbird, httpTypes,
                                                 httpClient, postgres, crypto, .product(name: "CryptoExtras", package: "swift-crypto"), log,
                                                 lifecycle, asyncAlgorithms],
            path: "Services/GatewayCore"),
    .executableTarget(name: "gateway", dependencies: ["GatewayCore", "SlipwayPlatform"], path: "Services/Gateway"),

    .executableTarget(name: "slipway-devbroker", dependencies: ["SlipwayKafka", "SlipwayContracts", argumentParser, log], path: "Services/DevBroker"),

    .target(
        name: "SlipwayCLICore",
        dependencies: ["SlipwayPlatform", "SlipwayEventSourcing", "SlipwayKafka", "SlipwayContracts", "SlipwayLocalRuntime", "SlipwayModelBundle", "SlipwayLoadGenerator", argumentParser, httpClient, postgres, protobuf, log, lifecycle],
        path: "Services/SlipwayCLICore"
    ),
    .executableTarget(name: "slipway", dependencies: ["SlipwayCLICore"], path: "Services/SlipwayCLI"),

    .testTarget(
        name: "SlipwayKafkaTests",
        dependencies: ["SlipwayKafka", log],
        path: "Tests/SlipwayKafkaTests"
    ),
    .testTarget(
        name: "SlipwayContractsTests",
        dependencies: ["SlipwayContracts", protobuf],
        path: "Tests/SlipwayContractsTests"
    ),
    .testTarget(
        name: "SlipwayLocalRuntimeTests",
        dependencies: ["SlipwayLocalRuntime"],
        path: "Tests/SlipwayLocalRuntimeTests"
    ),
    .testTarget(name: "SlipwayCLITests", dependencies: ["SlipwayTestSupport", "SlipwayLocalRuntime", httpTypes], path: "Tests/SlipwayCLITests"),
    .testTarget(name: "ShutdownTests", dependencies: ["SlipwayTestSupport", "SlipwayLocalRuntime", "SlipwayModelBundle", "SlipwayPlatform", postgres],
                path: "Tests/ShutdownTests"),
    .testTarget(name: "SlipwayPlatformTests", dependencies: ["SlipwayPlatform", hummingbird, hummingbirdTesting, httpTypes], path: "Tests/SlipwayPlatformTests"),
    .testTarget(
        name: "GatewayTests",
        dependencies: ["SlipwayTestSupport", "GatewayCore", "SlipwayPlatform", "SlipwayEventSourcing", "SlipwayContracts", hummingbird, hummingbirdTesting,
                       httpTypes, log, postgres, "TrainingCore", "RegistryCore", "ScheduleCore", "DeployCore", "TestingCore", "MetricsCore", "ModelServerCore"],
        path: "Tests/GatewayTests"
    ),
    .testTarget(
        name: "SlipwayEventSourcingTests",
        dependencies: ["SlipwayTestSupport", "SlipwayEventSourcing", "SlipwayPlatform", "SlipwayKafka", "SlipwayContracts", "SlipwayLocalRuntime", postgres, hummingbird, hummingbirdTesting, httpClient, nioCore, log, lifecycle],
        path: "Tests/SlipwayEventSourcingTests"
    ),
    // What the integration tests of the domain services share: the test database and a service harness.
    .target(name: "SlipwayTestSupport", dependencies: ["SlipwayPlatform", "SlipwayEventSourcing", "SlipwayContracts", "SlipwayLocalRuntime", "SlipwayKafka", postgres, hummingbird, hummingbirdTesting, httpClient, httpTypes, protobuf, log, lifecycle],
            path: "Tests/SlipwayTestSupport"),
    .testTarget(
        name: "TrainingCoreTests",
        dependencies: ["SlipwayTestSupport", "TrainingCore", "RecommenderKit", "SlipwayEventSourcing", "SlipwayPlatform", "SlipwayContracts", postgres, hummingbird, hummingbirdTesting, httpTypes, log, lifecycle],
        path: "Tests/TrainingCoreTests"
    ),
    .testTarget(
        name: "DeployCoreTests",
        dependencies: ["SlipwayTestSupport", "DeployCore", "SlipwayLocalRuntime", "SlipwayModelBundle", "SlipwayEventSourcing", "SlipwayPlatform", "SlipwayContracts", postgres, protobuf, hummingbird, hummingbirdTesting, httpTypes, log,
                       .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle")],
        path: "Tests/DeployCoreTests"
    ),
    .testTarget(
        name: "MetricsCoreTests",
        dependencies: ["SlipwayTestSupport", "MetricsCore", "SlipwayStatistics", "SlipwayEventSourcing", "SlipwayPlatform", "SlipwayContracts", "SlipwayKafka", "SlipwayLocalRuntime", postgres, protobuf, hummingbird, hummingbirdTesting, httpTypes, crypto, log],
        path: "Tests/MetricsCoreTests"
    ),
    .testTarget(
        name: "TestingCoreTests",
        dependencies: ["SlipwayTestSupport", "TestingCore", "SlipwayLoadGenerator", "RecommenderKit", "SlipwayModelBundle", "SlipwayEventSourcing", "SlipwayPlatform", "SlipwayContracts",
                       hummingbird, hummingbirdTesting, httpTypes, nioCore, log],
        path: "Tests/TestingCoreTests"
    ),
    .testTarget(
        name: "ScheduleCoreTests",
        dependencies: ["SlipwayTestSupport", "ScheduleCore", "SlipwayEventSourcing", "SlipwayPlatform", "SlipwayContracts", "SlipwayLocalRuntime", postgres, protobuf, log, crypto, httpTypes],
        path: "Tests/ScheduleCoreTests"
    ),
    .testTarget(
        name: "RegistryCoreTests",
        dependencies: ["SlipwayTestSupport", "RegistryCore", "SlipwayEventSourcing", "SlipwayPlatform", "SlipwayContracts", "SlipwayKafka", postgres, protobuf, hummingbird, hummingbirdTesting, httpClient, log],
        path: "Tests/RegistryCoreTests"
    ),
]

for service in domainServices {
    let shell: [Target.Dependency] = ["SlipwayPlatform", "SlipwayEventSourcing", "SlipwayContracts", hummingbird, postgres, log, lifecycle]
    targets.append(.target(name: "\(service.module)Core", dependencies: shell + service.dependencies, path: "Services/\(service.module)Core"))
    targets.append(.executableTarget(name: service.executable, dependencies: [.target(name: "\(service.module)Core"), "SlipwayPlatform"], path: "Services/\(service.module)Service"))
}

let package = Package(
    name: "slipway",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "slipway", targets: ["slipway"]),
        .executable(name: "slipway-devbroker", targets: ["slipway-devbroker"]),
        .executable(name: "gateway", targets: ["gateway"]),
        .executable(name: "slipway-trainer", targets: ["slipway-trainer"]),
        .executable(name: "model-server", targets: ["model-server"]),
        .executable(name: "serving-router", targets: ["serving-router"]),
    ] + domainServices.map { .executable(name: $0.executable, targets: [$0.executable]) },
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: ["FullFoundation"]),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0", traits: []),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: targets
)
