// Store microbenchmarks: the cost of each storage operation the Raft engine
// and the state machine use, for every backend with sync on and off (log
// operations on every backend that provides a log store, state operations on
// every one that provides a state store), next to the disk's own floor
// measured in the same run.
//
//     swift package benchmark                          # all of them
//     swift package benchmark --filter '.*lmdb.*'      # one backend (filters match whole names)
//     swift package benchmark --filter 'floor.*' --filter 'log append 1 · wal.*'
//                                                      # wal next to the fdatasync floor
import Benchmark
import Foundation
import MemoryBackend
import RaftLabBackends
import StorageCore
import Synchronization

/// The open store of one benchmark, created in its setup hook and closed in
/// its teardown, so opening and prefilling are not measured.
final class Fixture: Sendable {
    struct Stores {
        var log: (any LogStore)?
        var state: (any StateStore)?
        var nextIndex: UInt64 = 1
    }

    let backend: String
    let kind: StoreKind
    let sync: Bool
    let directory: String
    let stores = Mutex(Stores())

    static let prefill = 2_000
    static let prefixes = 20

    init(backend: String, kind: StoreKind, sync: Bool, label: String) {
        self.backend = backend
        self.kind = kind
        self.sync = sync
        directory = NSTemporaryDirectory() + "raftlab-bench-\(backend)-\(label)-\(UUID().uuidString)"
    }

    func setUp() throws {
        let options = StoreOptions(directory: directory + "/" + kind.rawValue, sync: sync)
        let value = Array(repeating: UInt8(0x61), count: 100)
        switch kind {
        case .log:
            let log = try BackendRegistry.standard.openLogStore(backend: backend, options)
            try log.append((1...UInt64(Self.prefill)).map { LogEntry(index: $0, term: 1, data: value) })
            stores.withLock { $0 = Stores(log: log, nextIndex: UInt64(Self.prefill) + 1) }
        case .state:
            let state = try BackendRegistry.standard.openStateStore(backend: backend, options)
            var batch = WriteBatch()
            for i in 0..<Self.prefill { batch.put(Self.key(i), value) }
            try state.apply(batch, through: AppliedPosition(index: UInt64(Self.prefill), term: 1))
            stores.withLock { $0 = Stores(state: state, nextIndex: UInt64(Self.prefill) + 1) }
        }
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
    func claimLog(_ count: UInt64) -> (log: any LogStore, first: UInt64)? {
        stores.withLock { stores in
            guard let log = stores.log else { return nil }
            defer { stores.nextIndex += count }
            return (log, stores.nextIndex)
        }
    }

    /// Takes `count` fresh applied positions.
    func claimState(_ count: UInt64) -> (state: any StateStore, first: UInt64)? {
        stores.withLock { stores in
            guard let state = stores.state else { return nil }
            defer { stores.nextIndex += count }
            return (state, stores.nextIndex)
        }
    }
}

enum MemoryBackendCleanup {
    static func forget(_ directory: String) { MemoryBackend.removeAll(under: directory) }
}

/// The disk's floor for a durable append, measured in the same run as the
/// stores: a 100-byte write and an fdatasync, either appended to a growing
/// file (the file size changes every time) or written over a preallocated,
/// zero-filled file (only data changes, as in a wal segment).
final class FloorFile: Sendable {
    let path = NSTemporaryDirectory() + "raftlab-bench-floor-\(UUID().uuidString)"
    let preallocated: Bool
    private let state = Mutex<(fd: Int32, offset: Int)>((-1, 0))
    static let size = 64 << 20

    init(preallocated: Bool) { self.preallocated = preallocated }

    func setUp() throws {
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError.io(operation: "open", path: path, errno: errno) }
        if preallocated {
            guard posix_fallocate(fd, 0, off_t(Self.size)) == 0 else {
                throw StorageError.io(operation: "posix_fallocate", path: path, errno: errno)
            }
            try FileSystem.writeAll(fd, Bytes(repeating: 0, count: Self.size), path: path)
            guard fsync(fd) == 0 else { throw StorageError.io(operation: "fsync", path: path, errno: errno) }
        }
        state.withLock { $0 = (fd, 0) }
    }

    func append(_ record: Bytes) throws {
        try state.withLock { state in
            if preallocated, state.offset + record.count > Self.size { state.offset = 0 }
            let written = record.withUnsafeBytes { pwrite(state.fd, $0.baseAddress, $0.count, off_t(state.offset)) }
            guard written == record.count else { throw StorageError.io(operation: "pwrite", path: path, errno: errno) }
            guard fdatasync(state.fd) == 0 else { throw StorageError.io(operation: "fdatasync", path: path, errno: errno) }
            state.offset += record.count
        }
    }

    func tearDown() throws {
        _ = state.withLock { close($0.fd) }
        try FileSystem.removeFile(path)
    }
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

    for preallocated in [false, true] {
        let floor = FloorFile(preallocated: preallocated)
        Benchmark(
            "floor: 100-byte \(preallocated ? "overwrite of a preallocated, zero-filled file" : "append") + fdatasync",
            closure: { benchmark in
                for _ in benchmark.scaledIterations { try floor.append(value) }
            },
            setup: { try floor.setUp() },
            teardown: { try floor.tearDown() })
    }

    func register(
        _ name: String, backend: String, kind: StoreKind, sync: Bool,
        _ body: @escaping @Sendable (Fixture, Benchmark) throws -> Void
    ) {
        let fixture = Fixture(backend: backend, kind: kind, sync: sync, label: name.replacingOccurrences(of: " ", with: "-"))
        Benchmark(
            "\(name) · \(backend) sync=\(sync ? "on" : "off")",
            closure: { benchmark in try body(fixture, benchmark) },
            setup: { try fixture.setUp() },
            teardown: { try fixture.tearDown() })
    }

    for backend in BackendRegistry.standard.names(providing: .log) {
        for sync in [true, false] {
            register("log append 1", backend: backend, kind: .log, sync: sync) { fixture, benchmark in
                for _ in benchmark.scaledIterations {
                    guard let (log, index) = fixture.claimLog(1) else { return }
                    try log.append([LogEntry(index: index, term: 1, data: value)])
                }
            }
            register("log append 64", backend: backend, kind: .log, sync: sync) { fixture, benchmark in
                for _ in benchmark.scaledIterations {
                    guard let (log, first) = fixture.claimLog(64) else { return }
                    try log.append((first..<first + 64).map { LogEntry(index: $0, term: 1, data: value) })
                }
            }
            register("log read entry", backend: backend, kind: .log, sync: sync) { fixture, benchmark in
                var rng = SystemRandomNumberGenerator()
                for _ in benchmark.scaledIterations {
                    guard let (log, _) = fixture.claimLog(0) else { return }
                    blackHole(try log.entry(at: UInt64.random(in: 1...UInt64(Fixture.prefill), using: &rng)))
                }
            }
        }
    }

    for backend in BackendRegistry.standard.names(providing: .state) {
        for sync in [true, false] {
            register("state put", backend: backend, kind: .state, sync: sync) { fixture, benchmark in
                var rng = SystemRandomNumberGenerator()
                for _ in benchmark.scaledIterations {
                    guard let (state, index) = fixture.claimState(1) else { return }
                    var batch = WriteBatch()
                    batch.put(Fixture.key(Int.random(in: 0..<Fixture.prefill * 2, using: &rng)), value)
                    try state.apply(batch, through: AppliedPosition(index: index, term: 1))
                }
            }
            register("state get", backend: backend, kind: .state, sync: sync) { fixture, benchmark in
                var rng = SystemRandomNumberGenerator()
                for _ in benchmark.scaledIterations {
                    guard let (state, _) = fixture.claimState(0) else { return }
                    blackHole(try state.get(Fixture.key(Int.random(in: 0..<Fixture.prefill, using: &rng))))
                }
            }
            register("state prefix scan 100", backend: backend, kind: .state, sync: sync) { fixture, benchmark in
                var rng = SystemRandomNumberGenerator()
                for _ in benchmark.scaledIterations {
                    guard let (state, _) = fixture.claimState(0) else { return }
                    let prefix = Array("table/p\(Int.random(in: 0..<Fixture.prefixes, using: &rng))/".utf8)
                    blackHole(try state.scan(prefix: prefix))
                }
            }
        }
    }
}
