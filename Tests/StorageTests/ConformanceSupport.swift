import Foundation
import MemoryBackend
import RaftLabBackends
import StorageCore
import Testing
import struct Raft.SplitMix64

/// One backend as a test argument; its description is the backend's name, so
/// every test case in the output says which backend it ran on.
struct BackendUnderTest: Sendable, CustomTestStringConvertible, CustomStringConvertible {
    let name: String
    var description: String { name }
    var testDescription: String { name }

    static let all = BackendRegistry.standard.names.map(BackendUnderTest.init)
    static let persistent = all.filter { (try? BackendRegistry.standard.backend(named: $0.name).isPersistent) == true }
    /// The backends that provide each kind of store: the kit runs every
    /// registered backend for each kind it provides.
    static let logStores = BackendRegistry.standard.names(providing: .log).map(BackendUnderTest.init)
    static let stateStores = BackendRegistry.standard.names(providing: .state).map(BackendUnderTest.init)

    func provides(_ kind: StoreKind) -> Bool {
        (try? backend.kinds.contains(kind)) == true
    }

    var backend: any StorageBackend {
        get throws { try BackendRegistry.standard.backend(named: name) }
    }

    func openLog(_ directory: String, sync: Bool = true, settings: [String: String] = [:]) throws -> any LogStore {
        try backend.openLogStore(StoreOptions(directory: directory, sync: sync, settings: settings))
    }

    func openState(
        _ directory: String, sync: Bool = true, settings: [String: String] = [:], stateSync: StateSyncMode = .checkpoint
    ) throws -> any StateStore {
        try backend.openStateStore(StoreOptions(directory: directory, sync: sync, settings: settings, stateSync: stateSync))
    }
}

/// A backend's state store in one `StateSyncMode`: the state store contract
/// holds in both, so every state test runs on each pair ("lmdb/checkpoint").
struct StateStoreUnderTest: Sendable, CustomTestStringConvertible, CustomStringConvertible {
    let backend: BackendUnderTest
    let mode: StateSyncMode
    var description: String { "\(backend.name)/\(mode)" }
    var testDescription: String { description }

    static let all = BackendUnderTest.stateStores.flatMap { backend in
        StateSyncMode.allCases.map { StateStoreUnderTest(backend: backend, mode: $0) }
    }

    func openState(_ directory: String, sync: Bool = true, settings: [String: String] = [:]) throws -> any StateStore {
        try backend.openState(directory, sync: sync, settings: settings, stateSync: mode)
    }
}

/// A node's two stores for the crash tests, in one `StateSyncMode`: every
/// persistent backend, as both stores when it provides both, else paired with
/// the first persistent backend (by name) that provides the other kind
/// ("wal/flatfile/checkpoint").
struct StorePairUnderTest: Sendable, CustomTestStringConvertible, CustomStringConvertible {
    let log: String
    let state: String
    let mode: StateSyncMode
    var description: String { (log == state ? log : "\(log)/\(state)") + "/\(mode)" }
    var testDescription: String { description }

    static let persistent: [StorePairUnderTest] = BackendUnderTest.persistent.flatMap { backend in
        func partner(_ kind: StoreKind) -> String? {
            BackendUnderTest.persistent.first { $0.provides(kind) && $0.provides(.log) && $0.provides(.state) }?.name
        }
        let log = backend.provides(.log) ? backend.name : partner(.log)
        let state = backend.provides(.state) ? backend.name : partner(.state)
        guard let log, let state else { return [StorePairUnderTest]() }
        return StateSyncMode.allCases.map { StorePairUnderTest(log: log, state: state, mode: $0) }
    }

    /// The pair as the probe takes it on its command line.
    var probeArgument: String { "\(log)/\(state)" }
}

/// A fresh directory path for one test; removed (and forgotten by the memory
/// backend) by `remove()`.
struct TestDirectory {
    let path: String

    init(_ label: String) {
        path = NSTemporaryDirectory() + "raftlab-test-\(label)-\(UUID().uuidString)"
    }

    func sub(_ name: String) -> String { path + "/" + name }

    func remove() {
        try? FileSystem.removeTree(path)
        MemoryBackend.removeAll(under: path)
    }
}

func entries(_ range: ClosedRange<UInt64>, term: UInt64, size: Int = 16) -> [LogEntry] {
    range.map { index in
        LogEntry(index: index, term: term, kind: .command, data: Array("entry-\(index)-term-\(term)".utf8) + Array(repeating: UInt8(index & 0xFF), count: size))
    }
}

func bytes(_ string: String) -> Bytes { Array(string.utf8) }

/// Expects `body` to throw exactly `expected`.
func expectError(_ expected: StorageError, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected \(expected), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as StorageError {
        #expect(error == expected, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(expected), got \(error)", sourceLocation: sourceLocation)
    }
}


/// What the conformance kit must be told about a backend beyond its
/// protocols. Each backend's hooks sit in its *SpecificTests file; a test
/// that needs a hook runs on the backends that give it.
struct BackendHooks: Sendable {
    /// How to damage the stored record of a log entry so that only its
    /// record checksum (not the engine's own checks) can catch it.
    enum EntryDamage: Sendable {
        /// On the closed store in the directory.
        case closed(@Sendable (_ directory: String, _ entry: LogEntry) throws -> Void)
        /// While the store is open (its checks at open would report it first).
        case open(@Sendable (_ directory: String, _ entry: LogEntry) throws -> Void)
    }

    var entryDamage: EntryDamage? = nil
    /// How the path of a `.corrupted` error for log entry `index` ends.
    var entrySource: @Sendable (_ index: UInt64) -> String = { "(log entry \($0))" }
    /// False where the term of every live entry is kept in memory, so `term(at:)` reads no record.
    var termReadsRecord = true
    /// A word of the `.engine` error that a second open of a live store gets
    /// (its directory lock); nil when the backend keeps no such lock.
    var lockWord: String? = nil
    /// The sync setting and state mode of a restore done in several engine
    /// transactions or batches; nil when the kit need not run one.
    var largeRestore: (sync: Bool, mode: StateSyncMode)? = nil
    /// Syncs counted for one synced log call and for a compaction, and at
    /// the close of a store opened with sync off (nil: not checked); nil
    /// when the counts depend on more than the call (flatfile).
    var logSyncs: (perCall: UInt64, compaction: UInt64, unsyncedClose: UInt64?)? = nil
    /// Bad values of the backend's own settings, each to be refused.
    var badSettings: [[String: String]] = []

    static let byBackend: [String: BackendHooks] = [
        "flatfile": FlatFileSpecificTests.hooks,
        "leveldb": LevelDBSpecificTests.hooks,
        "lmdb": LMDBSpecificTests.hooks,
        "rocksdb": RocksDBSpecificTests.hooks,
        "sqlite": SQLiteSpecificTests.hooks,
        "wal": WALSpecificTests.hooks,
    ]
}

extension BackendUnderTest {
    var hooks: BackendHooks { BackendHooks.byBackend[name] ?? BackendHooks() }
}

/// Pairs of `valueSize` bytes in key order, then an error after `failAfter`
/// of them (nil: no error): a snapshot arriving from a leader that breaks off.
struct LargeSource: KeyValueSource {
    struct BrokeOff: Error {}
    let count: Int
    let valueSize: Int
    let failAfter: Int?
    private var produced = 0

    init(count: Int, valueSize: Int, failAfter: Int? = nil) {
        self.count = count
        self.valueSize = valueSize
        self.failAfter = failAfter
    }

    mutating func next() throws -> KeyValue? {
        if let failAfter, produced == failAfter { throw BrokeOff() }
        guard produced < count else { return nil }
        defer { produced += 1 }
        return KeyValue(key: bytes(String(format: "big/%08d", produced)), value: Array(repeating: UInt8(produced & 0xFF), count: valueSize))
    }
}

/// A restore larger than one engine transaction or batch that breaks off
/// midway leaves the old state, before and after a reopen; a complete one
/// then replaces it. (The LMDB and LevelDB state stores restore through a
/// second generation in bounded steps.)
func checkLargeRestore(open: () throws -> any StateStore) throws {
    do {
        let store = try open()
        var batch = WriteBatch()
        batch.put(bytes("old"), bytes("state"))
        try store.apply(batch, through: AppliedPosition(index: 5, term: 1))
        var breaking = LargeSource(count: 400, valueSize: 64 << 10, failAfter: 350)  // ~22 MiB before the break
        #expect(throws: LargeSource.BrokeOff.self) { try store.restore(from: &breaking, position: AppliedPosition(index: 90, term: 2)) }
        #expect(try store.get(bytes("old")) == bytes("state"))
        #expect(try store.appliedPosition() == AppliedPosition(index: 5, term: 1))
        #expect(try store.scan(prefix: bytes("big/")).isEmpty)
        try store.close()
    }
    let store = try open()
    defer { try? store.close() }
    #expect(try store.get(bytes("old")) == bytes("state"))
    #expect(try store.scan(prefix: bytes("big/"), limit: 1).isEmpty)
    var complete = LargeSource(count: 400, valueSize: 64 << 10)
    try store.restore(from: &complete, position: AppliedPosition(index: 90, term: 2))
    #expect(try store.get(bytes("old")) == nil)
    #expect(try store.scan(prefix: bytes("big/")).count == 400)
    #expect(try store.appliedPosition() == AppliedPosition(index: 90, term: 2))
}

/// The project's one seeded generator (the Raft core's SplitMix64), under its
/// own name for every file of this target; only this declaration of Raft is imported.
typealias SplitMix64 = Raft.SplitMix64
