import StorageCore
import Testing

/// The StateStore contract, run against every registered backend that provides a state store, in each sync mode.
@Suite("StateStore conformance")
struct StateStoreConformanceTests {
    /// Keys that stress byte order: empty, 0x00 and 0xFF runs, unicode, `/` and `..`.
    static let awkwardKeys: [Bytes] = [
        [], [0x00], [0x00, 0x00], [0x00, 0xFF], [0x01], [0x7F], [0x80], [0xFE, 0xFF],
        [0xFF], [0xFF, 0x00], [0xFF, 0xFF], [0xFF, 0xFF, 0xFF],
        bytes("a"), bytes("a/b"), bytes("../etc"), bytes(".."), bytes("é"), bytes("日本"),
        Array(repeating: 0x61, count: 300),
    ]

    @Test("a new store is empty at position zero", arguments: StateStoreUnderTest.all)
    func emptyStore(backend: StateStoreUnderTest) throws {
        let dir = TestDirectory("state-empty-\(backend.backend)-\(backend.mode)")
        defer { dir.remove() }
        let store = try backend.openState(dir.path)
        defer { try? store.close() }
        #expect(try store.get(bytes("missing")) == nil)
        #expect(try store.scan(.all).isEmpty)
        #expect(try store.appliedPosition() == .zero)
    }

    @Test("a batch applies puts and deletes in order together with its position", arguments: StateStoreUnderTest.all)
    func atomicBatchWithPosition(backend: StateStoreUnderTest) throws {
        let dir = TestDirectory("state-batch-\(backend.backend)-\(backend.mode)")
        defer { dir.remove() }
        let store = try backend.openState(dir.path)
        defer { try? store.close() }
        var batch = WriteBatch()
        batch.put(bytes("a"), bytes("1"))
        batch.put(bytes("b"), bytes("2"))
        batch.put(bytes("c"), bytes("3"))
        batch.delete(bytes("b"))
        batch.put(bytes("a"), bytes("1b"))
        batch.delete(bytes("never-existed"))
        try store.apply(batch, through: AppliedPosition(index: 7, term: 2))
        #expect(try store.get(bytes("a")) == bytes("1b"))
        #expect(try store.get(bytes("b")) == nil)
        #expect(try store.get(bytes("c")) == bytes("3"))
        #expect(try store.appliedPosition() == AppliedPosition(index: 7, term: 2))

        // An empty batch still advances the position (entries that change no keys).
        try store.apply(WriteBatch(), through: AppliedPosition(index: 9, term: 3))
        #expect(try store.appliedPosition() == AppliedPosition(index: 9, term: 3))

        // A position going backwards is refused, and none of that batch lands.
        var stale = WriteBatch()
        stale.put(bytes("z"), bytes("stale"))
        #expect(throws: StorageError.self) { try store.apply(stale, through: AppliedPosition(index: 8, term: 3)) }
        #expect(try store.get(bytes("z")) == nil)
        #expect(try store.appliedPosition() == AppliedPosition(index: 9, term: 3))
    }

    @Test("scans return keys in unsigned byte order, including 0x00 and 0xFF", arguments: StateStoreUnderTest.all)
    func byteOrderScans(backend: StateStoreUnderTest) throws {
        let dir = TestDirectory("state-order-\(backend.backend)-\(backend.mode)")
        defer { dir.remove() }
        let store = try backend.openState(dir.path)
        defer { try? store.close() }
        var batch = WriteBatch()
        for (i, key) in Self.awkwardKeys.enumerated().reversed() { batch.put(key, bytes("v\(i)")) }
        try store.apply(batch, through: AppliedPosition(index: 1, term: 1))

        let sorted = Self.awkwardKeys.sorted { $0.lexicographicallyPrecedes($1) }
        #expect(try store.scan(.all).map(\.key) == sorted)
        for (i, key) in Self.awkwardKeys.enumerated() {
            #expect(try store.get(key) == bytes("v\(i)"))
        }
        #expect(try store.scan(.all, limit: 3).map(\.key) == Array(sorted.prefix(3)))
        #expect(try store.scan(.all, limit: 0).isEmpty)

        // Prefixes containing 0x00 and 0xFF, including an all-0xFF prefix with no upper bound.
        for prefix: Bytes in [[0x00], [0x00, 0x00], [0xFF], [0xFF, 0xFF], [0xFE], bytes("a"), []] {
            let expected = sorted.filter { $0.starts(with: prefix) }
            #expect(try store.scan(prefix: prefix).map(\.key) == expected, "prefix \(prefix)")
        }
        let range = KeyRange(from: [0x00, 0xFF], to: [0xFF, 0x00])
        #expect(try store.scan(range).map(\.key) == sorted.filter { range.contains($0) })
    }

    @Test("a snapshot is a point-in-time view while writes continue, and restores elsewhere", arguments: StateStoreUnderTest.all)
    func snapshotRoundTripWhileWriting(backend: StateStoreUnderTest) throws {
        let dir = TestDirectory("state-snapshot-\(backend.backend)-\(backend.mode)")
        defer { dir.remove() }
        let store = try backend.openState(dir.sub("source"))
        defer { try? store.close() }
        var batch = WriteBatch()
        var expected: [Bytes: Bytes] = [:]
        for i in 0..<300 {
            let key = bytes("item/\(String(format: "%04d", i))")
            batch.put(key, bytes("value-\(i)"))
            expected[key] = bytes("value-\(i)")
        }
        for key in Self.awkwardKeys { batch.put(key, key); expected[key] = key }
        try store.apply(batch, through: AppliedPosition(index: 10, term: 2))

        let snapshot = try store.snapshot()
        defer { snapshot.close() }
        #expect(snapshot.position == AppliedPosition(index: 10, term: 2))
        // Read part of the snapshot, then write, then read the rest.
        var seen: [KeyValue] = []
        for _ in 0..<50 { if let pair = try snapshot.next() { seen.append(pair) } }
        var later = WriteBatch()
        later.put(bytes("item/0000"), bytes("changed"))
        later.delete(bytes("item/0299"))
        later.put(bytes("item/9999"), bytes("new"))
        later.delete([0xFF, 0xFF])
        try store.apply(later, through: AppliedPosition(index: 11, term: 2))
        seen += try snapshot.readAll()
        #expect(try snapshot.next() == nil)
        let expectedPairs = expected.map { KeyValue(key: $0.key, value: $0.value) }
            .sorted { $0.key.lexicographicallyPrecedes($1.key) }
        #expect(seen == expectedPairs)
        #expect(try store.get(bytes("item/0000")) == bytes("changed"))

        // Restore into a store that already holds other data: it is replaced entirely.
        let target = try backend.openState(dir.sub("target"))
        defer { try? target.close() }
        var old = WriteBatch()
        old.put(bytes("stale-key"), bytes("must vanish"))
        try target.apply(old, through: AppliedPosition(index: 50, term: 9))
        var source = ArrayKeyValueSource(seen)
        try target.restore(from: &source, position: snapshot.position)
        #expect(try target.appliedPosition() == AppliedPosition(index: 10, term: 2))
        #expect(try target.get(bytes("stale-key")) == nil)
        #expect(try target.scan(.all) == expectedPairs)

        // Applying continues normally after a restore.
        var next = WriteBatch()
        next.put(bytes("after"), bytes("restore"))
        try target.apply(next, through: AppliedPosition(index: 11, term: 2))
        #expect(try target.get(bytes("after")) == bytes("restore"))
    }

    /// Backends whose snapshots hold the engine's read view (a read
    /// transaction, an engine snapshot): those end when the store closes. The
    /// others copy what they need and may read on.
    static let snapshotsPinTheEngine: Set<String> = ["lmdb", "leveldb", "rocksdb", "sqlite"]

    /// A restore may read its source while it writes, so the source must be a
    /// frozen view even when it is the store's own snapshot. A snapshot left
    /// open when its store closes either says `.closed` or reads on from its
    /// own copy, never from freed engine memory.
    @Test("restore from the store's own snapshot; a snapshot outliving its store", arguments: StateStoreUnderTest.all)
    func restoreFromOwnSnapshot(backend: StateStoreUnderTest) throws {
        let dir = TestDirectory("state-own-snapshot-\(backend.backend)-\(backend.mode)")
        defer { dir.remove() }
        let store = try backend.openState(dir.path)
        var batch = WriteBatch()
        for i in 0..<100 { batch.put(bytes("key-\(i)"), bytes("value-\(i)")) }
        try store.apply(batch, through: AppliedPosition(index: 5, term: 1))
        let expected = try store.scan(.all)

        let own = try store.snapshot()
        var more = WriteBatch()
        more.put(bytes("later"), bytes("gone after restore"))
        more.delete(bytes("key-1"))
        try store.apply(more, through: AppliedPosition(index: 6, term: 1))
        var source = own
        try store.restore(from: &source, position: own.position)
        own.close()
        #expect(try store.scan(.all) == expected)
        #expect(try store.appliedPosition() == AppliedPosition(index: 5, term: 1))

        let open = try store.snapshot()
        #expect(try open.next() == expected.first)
        try store.close()
        if Self.snapshotsPinTheEngine.contains(backend.backend.name) {
            expectError(.closed) { _ = try open.next() }
        } else {
            #expect(try open.next() == expected.dropFirst().first)
        }
        open.close()
    }

    @Test("restore refuses pairs out of key order", arguments: StateStoreUnderTest.all)
    func restoreRefusesUnorderedInput(backend: StateStoreUnderTest) throws {
        let dir = TestDirectory("state-restore-order-\(backend.backend)-\(backend.mode)")
        defer { dir.remove() }
        let store = try backend.openState(dir.path)
        defer { try? store.close() }
        var batch = WriteBatch()
        batch.put(bytes("keep"), bytes("me"))
        try store.apply(batch, through: AppliedPosition(index: 3, term: 1))
        var source = ArrayKeyValueSource([
            KeyValue(key: bytes("b"), value: []), KeyValue(key: bytes("a"), value: []),
        ])
        #expect(throws: StorageError.self) { try store.restore(from: &source, position: AppliedPosition(index: 9, term: 1)) }
        #expect(try store.get(bytes("keep")) == bytes("me"))
        #expect(try store.appliedPosition() == AppliedPosition(index: 3, term: 1))
    }

    @Test("reopen after a clean close keeps state and applied position", arguments: StateStoreUnderTest.all)
    func reopenKeepsState(backend: StateStoreUnderTest) throws {
        let dir = TestDirectory("state-reopen-\(backend.backend)-\(backend.mode)")
        defer { dir.remove() }
        do {
            let store = try backend.openState(dir.path)
            var batch = WriteBatch()
            for key in Self.awkwardKeys { batch.put(key, key + key) }
            try store.apply(batch, through: AppliedPosition(index: 40, term: 3))
            var second = WriteBatch()
            second.delete(bytes("a"))
            try store.apply(second, through: AppliedPosition(index: 41, term: 3))
            try store.close()
            expectError(.closed) { _ = try store.get(bytes("a")) }
        }
        let store = try backend.openState(dir.path)
        defer { try? store.close() }
        #expect(try store.appliedPosition() == AppliedPosition(index: 41, term: 3))
        let expected = Self.awkwardKeys.filter { $0 != bytes("a") }.sorted { $0.lexicographicallyPrecedes($1) }
        #expect(try store.scan(.all).map(\.key) == expected)
        for key in expected { #expect(try store.get(key) == key + key) }
    }

    @Test("reopen after applies with sync off keeps state and applied position", arguments: StateStoreUnderTest.all)
    func reopenAfterUnsyncedApplies(backend: StateStoreUnderTest) throws {
        let dir = TestDirectory("state-reopen-loose-\(backend.backend)-\(backend.mode)")
        defer { dir.remove() }
        let written = [
            KeyValue(key: [], value: bytes("empty key")),
            KeyValue(key: bytes("k"), value: []),
            KeyValue(key: [0xFF, 0x00], value: bytes("reserved")),
            KeyValue(key: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF], value: bytes("looks like a meta prefix")),
        ]
        do {
            let store = try backend.openState(dir.path, sync: false)
            var batch = WriteBatch()
            for pair in written.reversed() { batch.put(pair.key, pair.value) }
            try store.apply(batch, through: AppliedPosition(index: 46, term: 4))
            try store.close()
        }
        let store = try backend.openState(dir.path)
        defer { try? store.close() }
        #expect(try store.appliedPosition() == AppliedPosition(index: 46, term: 4))
        #expect(try store.scan(.all) == written)
    }

    @Test("a snapshot read on one task while another task applies, appends to the log and reads it", arguments: StateStoreUnderTest.all.filter { $0.backend.provides(.log) })
    func snapshotBesideWriters(backend: StateStoreUnderTest) async throws {
        let dir = TestDirectory("state-concurrent-\(backend.backend)-\(backend.mode)")
        defer { dir.remove() }
        let store = try backend.openState(dir.sub("state"), sync: false)
        let log = try backend.backend.openLog(dir.sub("log"), sync: false)
        var batch = WriteBatch()
        for i in 0..<1_000 { batch.put(bytes("key-\(i)"), bytes("value-\(i)")) }
        try store.apply(batch, through: AppliedPosition(index: 1, term: 1))
        let snapshot = try store.snapshot()
        let seen = try await withThrowingTaskGroup(of: [KeyValue].self) { group in
            group.addTask {
                var pairs: [KeyValue] = []
                while let pair = try snapshot.next() { pairs.append(pair) }
                return pairs
            }
            group.addTask {
                for i in 2...200 {
                    var change = WriteBatch()
                    change.put(bytes("key-\(i % 50)"), bytes("changed"))
                    change.delete(bytes("key-\(i + 500)"))
                    change.put(bytes("new-\(i)"), [])
                    try store.apply(change, through: AppliedPosition(index: UInt64(i), term: 1))
                    try log.append(entries(UInt64(i - 1)...UInt64(i - 1), term: 1))
                    _ = try log.entries(from: 1)
                }
                return []
            }
            var seen: [KeyValue] = []
            for try await pairs in group { seen += pairs }
            return seen
        }
        snapshot.close()
        #expect(seen.count == 1_000)
        #expect(seen.allSatisfy { $0.value.starts(with: bytes("value-")) })
        #expect(try store.appliedPosition() == AppliedPosition(index: 200, term: 1))
        #expect(try log.lastIndex() == 199)
        try store.close()
        try log.close()
    }

    @Test("a restore bigger than one engine transaction or batch that breaks off leaves the old state; a whole one replaces it", arguments: BackendUnderTest.stateStores.filter { $0.hooks.largeRestore != nil })
    func largeRestore(backend: BackendUnderTest) throws {
        let settings = try #require(backend.hooks.largeRestore)
        let dir = TestDirectory("state-large-restore-\(backend)")
        defer { dir.remove() }
        try checkLargeRestore { try backend.openState(dir.path, sync: settings.sync, stateSync: settings.mode) }
    }

    @Test("seeded random batches, checkpoints, scans and snapshots match a reference model, also after reopen", arguments: StateStoreUnderTest.all)
    func randomBatchesMatchModel(backend: StateStoreUnderTest) throws {
        let dir = TestDirectory("state-model-\(backend.backend)-\(backend.mode)")
        defer { dir.remove() }
        var store = try backend.openState(dir.path)
        defer { try? store.close() }
        var rng = SplitMix64(seed: 7)
        var model: [Bytes: Bytes] = [:]
        func expected(_ model: [Bytes: Bytes]) -> [KeyValue] {
            model.map { KeyValue(key: $0.key, value: $0.value) }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        }
        let prefixes: [Bytes] = [[], [0x00], [0xFF], [0x7F, 0x00], [0xFF, 0xFF]]
        var lastCheckpoint = AppliedPosition.zero
        for index in 1...80 {
            var batch = WriteBatch()
            for _ in 0..<Int(rng.next() % 12) {
                let key: Bytes = (0..<Int(rng.next() % 4)).map { _ in [0x00, 0x01, 0x7F, 0xFF][Int(rng.next() % 4)] }
                if rng.next() % 3 == 0 {
                    batch.delete(key)
                    model[key] = nil
                } else {
                    let value = Array(bytes("v\(index)-\(rng.next() % 1000)"))
                    batch.put(key, value)
                    model[key] = value
                }
            }
            let position = AppliedPosition(index: UInt64(index), term: 1)
            try store.apply(batch, through: position)
            switch rng.next() % 10 {
            case 0:
                lastCheckpoint = try store.checkpoint()
                #expect(lastCheckpoint == position)
            case 1:
                // A scan with a limit, over buffered and stored pairs alike.
                let prefix = prefixes[Int(rng.next() % UInt64(prefixes.count))]
                let limit = 1 + Int(rng.next() % 5)
                let want = Array(expected(model).filter { $0.key.starts(with: prefix) }.prefix(limit))
                #expect(try store.scan(prefix: prefix, limit: limit) == want, "scan at \(index)")
            case 2:
                let snapshot = try store.snapshot()
                #expect(snapshot.position == position)
                #expect(try snapshot.readAll() == expected(model), "snapshot at \(index)")
                snapshot.close()
            case 3:
                try store.close()
                store = try backend.openState(dir.path)
                #expect(try store.appliedPosition() == position, "a clean close keeps every apply")
            default:
                break
            }
            #expect(try store.appliedPosition() == position)
        }
        #expect(lastCheckpoint.index > 0, "the seed should take at least one checkpoint")
        #expect(try store.scan(.all) == expected(model))
        for prefix in prefixes {
            #expect(try store.scan(prefix: prefix) == expected(model).filter { $0.key.starts(with: prefix) })
        }
        for (key, value) in model { #expect(try store.get(key) == value) }
    }

    @Test("checkpoint returns the applied position; applies continue after it", arguments: StateStoreUnderTest.all)
    func checkpointReturnsPosition(backend: StateStoreUnderTest) throws {
        let dir = TestDirectory("state-checkpoint-\(backend.backend)-\(backend.mode)")
        defer { dir.remove() }
        let store = try backend.openState(dir.path)
        defer { try? store.close() }
        #expect(try store.checkpoint() == .zero)
        var batch = WriteBatch()
        batch.put(bytes("a"), bytes("1"))
        try store.apply(batch, through: AppliedPosition(index: 4, term: 1))
        #expect(try store.checkpoint() == AppliedPosition(index: 4, term: 1))
        #expect(try store.checkpoint() == AppliedPosition(index: 4, term: 1))
        batch = WriteBatch()
        batch.delete(bytes("a"))
        batch.put(bytes("b"), bytes("2"))
        try store.apply(batch, through: AppliedPosition(index: 6, term: 2))
        #expect(try store.get(bytes("a")) == nil)
        #expect(try store.get(bytes("b")) == bytes("2"))
        #expect(throws: StorageError.self) { try store.apply(WriteBatch(), through: AppliedPosition(index: 5, term: 2)) }
        #expect(try store.checkpoint() == AppliedPosition(index: 6, term: 2))
        try store.close()
        expectError(.closed) { _ = try store.checkpoint() }
    }
}
