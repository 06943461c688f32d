// Store microbenchmarks: the cost of each storage operation the Raft engine
// and the state machine use, for every backend with sync on and off.
//
//     swift package benchmark                       # all of them
//     swift package benchmark --filter 'lmdb'       # one backend
import Benchmark
import Foundation
import MemoryBackend
import RaftLabBackends
import StorageCore
import Synchronization

/// The open stores of one benchmark, created in its setup hook and closed in
/// its teardown, so opening and prefilling are not measured.
final class Fixture: Sendable {
    struct Stores {
        var log: (any LogStore)?
        var state: (any StateStore)?
        var nextIndex: UInt64 = 1
    }

    let backend: String
    let sync: Bool
    let directory: String
    let stores = Mutex(Stores())

    static let prefill = 2_000
    static let prefixes = 20

    init(backend: String, sync: Bool, label: String) {
        self.backend = backend
        self.sync = sync
        directory = NSTemporaryDirectory() + "raftlab-bench-\(backend)-\(label)-\(UUID().uuidString)"
    }

    func setUp() throws {
        let config = StorageConfig(backend: backend, dataDirectory: directory, sync: sync)
        let (log, state) = try BackendRegistry.standard.openStores(config)
        let value = Array(repeating: UInt8(0x61), count: 100)
        try log.append((1...UInt64(Self.prefill)).map { LogEntry(index: $0, term: 1, data: value) })
        var batch = WriteBatch()
        for i in 0..<Self.prefill { batch.put(Self.key(i), value) }
        try state.apply(batch, through: AppliedPosition(index: UInt64(Self.prefill), term: 1))
        stores.withLock { $0 = Stores(log: log, state: state, nextIndex: UInt64(Self.prefill) + 1) }
    }

    func tearDown() throws {
        let (log, state) = stores.withLock { ($0.log, $0.state) }
        try log?.close()
        try state?.close()
        try FileSystem.removeTree(directory)
        MemoryBackendCleanup.forget(directory)
    }

    /// Keys spread over `prefixes` prefixes so a prefix scan returns prefill/prefixes pairs.
    static func key(_ i: Int) -> Bytes {
        Array("table/p\(i % prefixes)/item-\(String(format: "%06d", i))".utf8)
    }

    /// Takes `count` fresh log indexes.
    func claim(_ count: UInt64) -> (log: any LogStore, state: any StateStore, first: UInt64)? {
        stores.withLock { stores in
            guard let log = stores.log, let state = stores.state else { return nil }
            defer { stores.nextIndex += count }
            return (log, state, stores.nextIndex)
        }
    }
}

enum MemoryBackendCleanup {
    static func forget(_ directory: String) { MemoryBackend.removeAll(under: directory) }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput],
        timeUnits: .microseconds,
        warmupIterations: 5,
        maxDuration: .seconds(1),
        maxIterations: 5_000
    )
    let value = Array(repeating: UInt8(0x62), count: 100)

    for backend in BackendRegistry.standard.names {
        for sync in [true, false] {
            let suffix = "\(backend) sync=\(sync ? "on" : "off")"

            func register(_ name: String, _ body: @escaping @Sendable (Fixture, Benchmark) throws -> Void) {
                let fixture = Fixture(backend: backend, sync: sync, label: name.replacingOccurrences(of: " ", with: "-"))
                Benchmark(
                    "\(name) · \(suffix)",
                    closure: { benchmark in try body(fixture, benchmark) },
                    setup: { try fixture.setUp() },
                    teardown: { try fixture.tearDown() })
            }

            register("log append 1") { fixture, benchmark in
                for _ in benchmark.scaledIterations {
                    guard let (log, _, index) = fixture.claim(1) else { return }
                    try log.append([LogEntry(index: index, term: 1, data: value)])
                }
            }
            register("log append 64") { fixture, benchmark in
                for _ in benchmark.scaledIterations {
                    guard let (log, _, first) = fixture.claim(64) else { return }
                    try log.append((first..<first + 64).map { LogEntry(index: $0, term: 1, data: value) })
                }
            }
            register("log read entry") { fixture, benchmark in
                var rng = SystemRandomNumberGenerator()
                for _ in benchmark.scaledIterations {
                    guard let (log, _, _) = fixture.claim(0) else { return }
                    blackHole(try log.entry(at: UInt64.random(in: 1...UInt64(Fixture.prefill), using: &rng)))
                }
            }
            register("state put") { fixture, benchmark in
                var rng = SystemRandomNumberGenerator()
                for _ in benchmark.scaledIterations {
                    guard let (_, state, index) = fixture.claim(1) else { return }
                    var batch = WriteBatch()
                    batch.put(Fixture.key(Int.random(in: 0..<Fixture.prefill * 2, using: &rng)), value)
                    try state.apply(batch, through: AppliedPosition(index: index, term: 1))
                }
            }
            register("state get") { fixture, benchmark in
                var rng = SystemRandomNumberGenerator()
                for _ in benchmark.scaledIterations {
                    guard let (_, state, _) = fixture.claim(0) else { return }
                    blackHole(try state.get(Fixture.key(Int.random(in: 0..<Fixture.prefill, using: &rng))))
                }
            }
            register("state prefix scan 100") { fixture, benchmark in
                var rng = SystemRandomNumberGenerator()
                for _ in benchmark.scaledIterations {
                    guard let (_, state, _) = fixture.claim(0) else { return }
                    let prefix = Array("table/p\(Int.random(in: 0..<Fixture.prefixes, using: &rng))/".utf8)
                    blackHole(try state.scan(prefix: prefix))
                }
            }
        }
    }
}
