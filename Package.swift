// swift-tools-version: 6.1
//
// RaftLab: one Raft engine and one NoSQL state machine on interchangeable
// storage engines. One target per concern; read the target list top to bottom
// to see the architecture:
//
//   StorageCore      the LogStore / StateStore protocols, shared types, registry
//   EncryptedStorage encryption at rest (AES-256-GCM) over any backend, behind the storage seam
//   CLMDB, CLevelDB, CRocksDB, CSQLite
//                    system-library shims for liblmdb, libleveldb, librocksdb, libsqlite3
//   *Backend         one target per storage engine (memory, flatfile, lmdb, leveldb,
//                    rocksdb, sqlite, and wal, a log store only)
//   RaftLabBackends  the one place that links every backend and registers it by name
//   Raft             the consensus core (pure state machine) and its runtime
//   RaftTCPTransport the SwiftNIO transport for one process per node (optionally mutual TLS)
//   RaftLabTLS       TLS contexts from PEM files (reloadable), node identities, `raftlab certs`
//   NoSQL            the state machine: tables, items, versions, queries
//   RaftLabAPI       what a client needs without the node: HostPort, NodeStatus, NodeError, ReadConsistency
//   RaftLabNode      a node: Raft + NoSQL + the stores its TOML config names
//   CSyncObserver    counts sync system calls (fsync, fdatasync, msync, O_DSYNC writes) by interposition
//   SyncObserver     its Swift face: per-directory sync counts
//   RaftLabHTTPClient a small HTTP/1.1 client (SwiftNIO) for the CLI, the forwarder and the bench
//   DynamoDBAPI      DynamoDB's JSON 1.0 protocol over a node: operations, errors, SigV4
//   RaftLabServer    HTTP JSON API (Hummingbird) over a node, plus /status, /metrics and /admin
//   RaftLabReport    benchmark results -> report.json, report.md, CSV, SVG charts (JSON values: NoSQL's)
//   RaftLabHarness   a cluster of `raftlab server` processes on loopback, driven over HTTP (bench and chaos)
//   RaftLabBench     the benchmark runner behind `raftlab bench`
//   Linearizability  a linearizability checker for histories of versioned registers (pure)
//   RaftLabChaos     the fault runner behind `raftlab chaos`: clients, nemesis, checks, report
//   RaftLabFuzz      the campaign behind `raftlab fuzz`: seeded requests at every limit, restarts, checks
//   RaftLabCLI       the `raftlab` executable
//   StorageProbe     a tiny executable the crash tests SIGKILL mid-write
import PackageDescription

let package = Package(
    name: "RaftLab",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "raftlab", targets: ["RaftLabCLI"]),
        .library(name: "StorageCore", targets: ["StorageCore"]),
        .library(name: "RaftLabBackends", targets: ["RaftLabBackends"]),
    ],
    dependencies: [
        .package(url: "https://github.com/ordo-one/package-benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", exact: "0.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", exact: "1.8.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", exact: "0.2.0"),
        // Security (issue 15): TLS, certificates, encryption at rest. Already in the
        // graph through Hummingbird; named here because RaftLab imports them.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", exact: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-asn1.git", exact: "1.7.4"),
    ],
    targets: [
        // MARK: Storage core (protocols and shared types only, no engine code)
        .target(name: "StorageCore"),

        // MARK: System libraries (Debian: liblmdb-dev, libleveldb-dev, librocksdb-dev, libsqlite3-dev)
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        // libleveldb-dev ships no leveldb.pc, so no pkgConfig here.
        .systemLibrary(name: "CLevelDB", providers: [.apt(["libleveldb-dev"])]),
        .systemLibrary(name: "CRocksDB", pkgConfig: "rocksdb", providers: [.apt(["librocksdb-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),

        // MARK: Backends: each implements LogStore, StateStore or both
        .target(name: "MemoryBackend", dependencies: ["StorageCore"]),
        .target(name: "FlatFileBackend", dependencies: ["StorageCore"]),
        .target(name: "LMDBBackend", dependencies: ["StorageCore", "CLMDB"]),
        .target(name: "LevelDBBackend", dependencies: ["StorageCore", "CLevelDB"]),
        .target(name: "RocksDBBackend", dependencies: ["StorageCore", "CRocksDB"]),
        .target(name: "SQLiteBackend", dependencies: ["StorageCore", "CSQLite"]),
        .target(name: "WALBackend", dependencies: ["StorageCore"]),
        .target(name: "RaftLabBackends", dependencies: [
            "StorageCore", "MemoryBackend", "FlatFileBackend", "LMDBBackend", "LevelDBBackend",
            "RocksDBBackend", "SQLiteBackend", "WALBackend",
        ]),

        // Encryption at rest over any backend: a wrapper behind the storage seam.
        .target(name: "EncryptedStorage", dependencies: [
            "StorageCore", .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log"),
        ]),

        // Fault models over any store: power cuts that drop what was never synced.
        .target(name: "StorageFaults", dependencies: ["StorageCore"]),

        // MARK: Raft: the engine imports the storage core only, never a backend
        // The protocol core: a pure state machine (no clock, threads, I/O or randomness of its own).
        .target(name: "Raft", dependencies: ["StorageCore"]),
        // The runtime around it: real time, the stores, the apply stage, transports.
        .target(name: "RaftRuntime", dependencies: ["Raft", "StorageCore", .product(name: "Logging", package: "swift-log")]),
        .target(name: "RaftTCPTransport", dependencies: [
            "Raft", "RaftRuntime",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // TLS material: contexts from PEM files (reloaded on SIGHUP), node identities, certificate making.
        .target(name: "RaftLabTLS", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // MARK: NoSQL state machine: tables and items over any StateStore
        .target(name: "NoSQL", dependencies: ["StorageCore"]),

        // MARK: Syncs observed at the system call, in every process that links this
        .target(name: "CSyncObserver"),
        .target(name: "SyncObserver", dependencies: ["CSyncObserver"]),

        // MARK: API types: what a client of a node needs without linking the node
        .target(name: "RaftLabAPI"),

        // MARK: Node: engine + state machine + the stores a config names. It links no engine:
        // the executable (or test) passes the registry, `BackendRegistry.standard` from RaftLabBackends.
        .target(name: "RaftLabNode", dependencies: [
            "RaftLabAPI", "StorageCore", "Raft", "RaftRuntime", "RaftTCPTransport", "NoSQL", "SyncObserver",
            "EncryptedStorage", "RaftLabTLS",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "TOMLKit", package: "TOMLKit"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // MARK: HTTP client: what the CLI, the leader forwarder and the bench speak
        .target(name: "RaftLabHTTPClient", dependencies: [
            "RaftLabAPI",
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),

        // MARK: DynamoDB protocol: plain types over NoSQLService, no HTTP stack
        .target(name: "DynamoDBAPI", dependencies: ["RaftLabAPI", "RaftLabNode", "NoSQL", "StorageCore"]),

        // MARK: Server: a thin HTTP JSON layer (Hummingbird) over NoSQLService
        .target(name: "RaftLabServer", dependencies: [
            "RaftLabAPI", "RaftLabNode", "RaftLabHTTPClient", "NoSQL", "StorageCore", "DynamoDBAPI", "RaftTCPTransport", "RaftLabTLS",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // MARK: Reports: report.json, Markdown, CSV, SVG charts, machine floors
        // Config values are NoSQL's JSONValue, the project's one JSON type.
        .target(name: "RaftLabReport", dependencies: [
            "StorageCore", "NoSQL",
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),

        // MARK: Cluster harness: node processes on loopback, driven over HTTP (the bench and chaos share it)
        .target(name: "RaftLabHarness", dependencies: [
            "RaftLabAPI", "RaftLabNode", "RaftLabHTTPClient", "RaftLabReport", "RaftLabTLS", "NoSQL", "StorageCore", "SyncObserver",
        ]),

        // MARK: Benchmark runner: clusters per backend, measured side by side
        .target(name: "RaftLabBench", dependencies: [
            "StorageCore", "RaftLabBackends", "RaftLabAPI", "RaftLabHarness", "RaftLabNode", "RaftLabReport", "Raft", "RaftRuntime", "NoSQL",
            "RaftLabHTTPClient", "SyncObserver", "EncryptedStorage", "RaftLabTLS",
        ]),

        // MARK: Chaos: a linearizability checker (no dependencies) and the fault runner
        .target(name: "Linearizability"),
        .target(name: "RaftLabChaos", dependencies: [
            "Linearizability", "RaftLabHarness", "RaftLabAPI", "RaftLabNode", "RaftLabReport", "StorageCore", "NoSQL", "RaftLabHTTPClient", "Raft",
        ]),

        // MARK: Fuzz: seeded, structure-aware requests at the API edge of a live cluster
        .target(name: "RaftLabFuzz", dependencies: [
            "RaftLabAPI", "RaftLabNode", "RaftLabServer", "RaftLabHTTPClient", "RaftLabBackends", "StorageCore", "NoSQL", "DynamoDBAPI", "Raft",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // MARK: The raftlab command: server, client commands, bench, report
        .executableTarget(name: "RaftLabCLI", dependencies: [
            "RaftLabAPI", "RaftLabNode", "RaftLabServer", "RaftLabHTTPClient", "RaftLabBench", "RaftLabHarness", "RaftLabReport", "StorageCore",
            "RaftLabBackends", "NoSQL", "RaftLabChaos", "RaftLabFuzz", "RaftTCPTransport", "StorageFaults", "EncryptedStorage", "RaftLabTLS",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // MARK: Tools
        .executableTarget(name: "StorageProbe", dependencies: ["StorageCore", "RaftLabBackends"]),

        // MARK: Tests
        // A one-node NoSQLService double and a live-server helper, shared by the server and CLI tests.
        .target(name: "RaftLabTestSupport", dependencies: [
            "RaftLabServer", "RaftLabAPI", "RaftLabNode", "NoSQL", "StorageCore", "RaftLabBackends",
            .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/RaftLabTestSupport"),
        // Waiting on a condition and capturing logs: no project dependencies, so any test target can use it.
        .target(name: "TestUtilities", dependencies: [
            .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/TestUtilities"),
        .testTarget(name: "StorageTests", dependencies: ["StorageCore", "RaftLabBackends", "StorageProbe", "Raft"]),
        .testTarget(name: "NodeTests", dependencies: [
            "RaftLabAPI", "RaftLabNode", "RaftLabBackends", "StorageCore", "NoSQL", "Raft", "RaftRuntime", "MemoryBackend", "TestUtilities",
        ]),
        .testTarget(name: "ServerTests", dependencies: [
            "RaftLabServer", "RaftLabAPI", "RaftLabNode", "NoSQL", "StorageCore", "RaftLabBackends", "RaftLabTestSupport", "RaftRuntime", "Raft",
            "RaftLabTLS", "RaftLabHTTPClient", "DynamoDBAPI",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "EndToEndTests", dependencies: ["RaftLabCLI", "RaftLabBackends", "StorageCore", "NoSQL", "TestUtilities"]),
        .testTarget(name: "CLITests", dependencies: [
            "RaftLabCLI", "RaftLabAPI", "RaftLabNode", "RaftLabServer", "RaftLabHTTPClient", "NoSQL", "StorageCore", "RaftLabBackends", "RaftLabTestSupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "BenchTests", dependencies: [
            "RaftLabBench", "RaftLabHarness", "RaftLabAPI", "RaftLabNode", "RaftLabReport", "RaftLabBackends", "StorageCore", "NoSQL",
        ]),
        // A backend with sync switched off must show zero observed syncs: the counter can fail.
        .testTarget(name: "SyncObserverTests", dependencies: ["SyncObserver", "StorageCore", "RaftLabBackends"]),
        // Encryption at rest, mutual TLS, certificates, whole clusters with the protections on.
        .testTarget(name: "SecurityTests", dependencies: [
            "EncryptedStorage", "RaftLabTLS", "RaftTCPTransport", "RaftLabAPI", "RaftLabNode", "RaftLabBackends", "MemoryBackend",
            "StorageCore", "Raft", "RaftRuntime", "NoSQL", "TestUtilities",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "ReportTests", dependencies: ["RaftLabReport", "NoSQL"]),
        // The dependency rules of docs/architecture.md, checked on this file read as text.
        .testTarget(name: "ArchitectureTests"),
        .testTarget(name: "LinearizabilityTests", dependencies: ["Linearizability"]),
        // A short seeded campaign per backend, the generator's determinism, and a checker that can fail.
        .testTarget(name: "FuzzTests", dependencies: ["RaftLabFuzz", "NoSQL", "DynamoDBAPI"]),
        .testTarget(name: "ChaosTests", dependencies: ["RaftLabChaos", "Linearizability", "RaftLabNode", "RaftLabHTTPClient", "NoSQL", "RaftLabBackends"]),
        // StorageTests, NoSQLTests and ServerTests draw seeded inputs from the Raft core's SplitMix64 (imported alone).
        .testTarget(name: "NoSQLTests", dependencies: ["NoSQL", "StorageCore", "RaftLabBackends", "Raft"]),
        .testTarget(name: "DynamoDBTests", dependencies: [
            "DynamoDBAPI", "NoSQL", "RaftLabAPI", "RaftLabNode", "StorageCore", "RaftLabTestSupport", "Raft",
        ]),
        .testTarget(name: "RaftTests", dependencies: [
            "Raft", "RaftRuntime", "RaftTCPTransport", "StorageCore", "StorageFaults", "RaftLabBackends", "MemoryBackend",
            "TestUtilities", .product(name: "Logging", package: "swift-log"),
        ],
        // Trace scenarios: read (and, in rewrite mode, written) in place through
        // #filePath, not bundled; excluded so SwiftPM does not warn about them.
        exclude: ["testdata"]),

        // MARK: Benchmarks (swift package benchmark)
        .executableTarget(
            name: "StorageBenchmarks",
            dependencies: [
                "StorageCore", "RaftLabBackends",
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/StorageBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),

        // MARK: Plugins
        .plugin(
            name: "LabReport",
            capability: .command(
                intent: .custom(verb: "lab-report", description: "Run the default benchmark comparison in release mode and write results/reference/"),
                permissions: [.writeToPackageDirectory(reason: "writes the reference report to results/reference/")])
        ),
    ]
)
