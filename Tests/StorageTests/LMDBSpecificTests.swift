@testable import LMDBBackend
import RaftLabBackends
import StorageCore
import Testing

/// What only the lmdb backend does: its map size, its files, how it syncs,
/// and what happens when bytes in data.mdb go bad.
@Suite("LMDB backend")
struct LMDBSpecificTests {
    let lmdb = LMDBBackend()

    /// LMDB keeps no checksums of its own: a damaged payload is found by the
    /// record's (every copy is damaged, since copy-on-write may have left old
    /// pages behind). A restore runs in several transactions. A synced commit
    /// counts 2 syncs (fdatasync + meta page) whatever it carries; with sync
    /// off, close flushes MDB_NOSYNC's commits with one mdb_env_sync.
    static let hooks = BackendHooks(
        entryDamage: .closed { directory, entry in
            let path = directory + "/data.mdb"
            let damaged = try #require(try FileSystem.readFile(path).map { flipAll(entry.data, in: $0) })
            #expect(damaged.count > 0)
            try FileSystem.writeFile(path, damaged.bytes, sync: false)
        },
        entrySource: { "data.mdb (log entry \($0))" },
        largeRestore: (sync: false, mode: .always),
        logSyncs: (perCall: 2, compaction: 2, unsyncedClose: 1),
        badSettings: ["", "-1", "0", "1GiB"].map { ["map_size": $0] })

    /// LMDB's own state store, each apply a synced commit, unless `stateSync` says otherwise.
    func options(_ path: String, sync: Bool = true, mapSize: Int? = nil, stateSync: StateSyncMode = .always) -> StoreOptions {
        StoreOptions(directory: path, sync: sync, settings: mapSize.map { ["map_size": String($0)] } ?? [:], stateSync: stateSync)
    }

    func expectFull(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try body()
            Issue.record("expected the map to be full", sourceLocation: sourceLocation)
        } catch let StorageError.full(backend, detail) {
            #expect(backend == "lmdb", sourceLocation: sourceLocation)
            #expect(detail.contains("map_size"), "the detail names the setting to raise", sourceLocation: sourceLocation)
            #expect(detail.contains("bytes"), "the detail names the map size", sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected .full, got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("a full map gives .full, aborts the write, and the log stays usable")
    func mapFullLog() throws {
        let dir = TestDirectory("lmdb-full-log")
        defer { dir.remove() }
        let log = try lmdb.openLogStore(options(dir.path, mapSize: 1 << 20))
        defer { try? log.close() }
        try log.append(entries(1...10, term: 1), hardState: HardState(term: 1, votedFor: 1, commit: 0))

        let huge = LogEntry(index: 11, term: 1, data: Array(repeating: 0xAB, count: 4 << 20))
        expectFull { try log.append([huge], hardState: HardState(term: 2, votedFor: 2, commit: 5)) }

        // Nothing of the failed call landed, reads work, a smaller write fits.
        #expect(try log.lastIndex() == 10)
        #expect(try log.hardState() == HardState(term: 1, votedFor: 1, commit: 0))
        #expect(try log.entries(1...10, maxBytes: .max) == entries(1...10, term: 1))
        try log.append(entries(11...12, term: 2))
        #expect(try log.entries(11...12, maxBytes: .max) == entries(11...12, term: 2))

        // Filling the map with many small writes ends the same way.
        var next: UInt64 = 13
        var filled = false
        while next < 10_000 {
            do {
                try log.append([LogEntry(index: next, term: 2, data: Array(repeating: 7, count: 8 << 10))])
                next += 1
            } catch StorageError.full {
                filled = true
                break
            }
        }
        #expect(filled)
        #expect(try log.lastIndex() == next - 1)
        #expect(try log.term(at: next - 1) == 2)
        // A map this full may refuse even a compaction (a commit needs fresh
        // pages for the copy-on-write tree and the free list): the remedy is
        // the one the error names, a larger map_size.
        try log.close()
        let reopened = try lmdb.openLogStore(options(dir.path, mapSize: 4 << 20))
        defer { try? reopened.close() }
        #expect(try reopened.lastIndex() == next - 1)
        try reopened.compact(through: next - 10, term: 2)
        try reopened.append([LogEntry(index: next, term: 3, data: Array(repeating: 7, count: 8 << 10))])
        #expect(try reopened.lastIndex() == next)
        #expect(try reopened.entries(next - 9...next, maxBytes: .max).count == 10)
    }

    @Test("a full map gives .full for the state store too, which stays usable")
    func mapFullState() throws {
        let dir = TestDirectory("lmdb-full-state")
        defer { dir.remove() }
        let store = try lmdb.openStateStore(options(dir.path, mapSize: 1 << 20))
        var batch = WriteBatch()
        batch.put(bytes("small"), bytes("value"))
        try store.apply(batch, through: AppliedPosition(index: 1, term: 1))

        var huge = WriteBatch()
        huge.put(bytes("huge"), Array(repeating: 1, count: 4 << 20))
        huge.delete(bytes("small"))
        expectFull { try store.apply(huge, through: AppliedPosition(index: 2, term: 1)) }
        #expect(try store.get(bytes("small")) == bytes("value"))
        #expect(try store.get(bytes("huge")) == nil)
        #expect(try store.appliedPosition() == AppliedPosition(index: 1, term: 1))

        var hugeSource = ArrayKeyValueSource([KeyValue(key: bytes("huge"), value: Array(repeating: 1, count: 4 << 20))])
        expectFull { try store.restore(from: &hugeSource, position: AppliedPosition(index: 9, term: 1)) }
        #expect(try store.scan(.all) == [KeyValue(key: bytes("small"), value: bytes("value"))])

        var small = WriteBatch()
        small.put(bytes("second"), bytes("fits"))
        try store.apply(small, through: AppliedPosition(index: 2, term: 1))
        #expect(try store.get(bytes("second")) == bytes("fits"))
        try store.close()

        // Raising map_size, as the error says, lets the same write through.
        let bigger = try lmdb.openStateStore(options(dir.path, mapSize: 64 << 20))
        defer { try? bigger.close() }
        try bigger.apply(huge, through: AppliedPosition(index: 3, term: 1))
        #expect(try bigger.get(bytes("huge"))?.count == 4 << 20)
    }

    @Test("writes land in data.mdb and lock.mdb in each store directory")
    func expectedFiles() throws {
        let dir = TestDirectory("lmdb-files")
        defer { dir.remove() }
        let log = try lmdb.openLogStore(options(dir.sub("log")))
        try log.append(entries(1...3, term: 1))
        let state = try lmdb.openStateStore(options(dir.sub("state")))
        var batch = WriteBatch()
        batch.put(bytes("k"), bytes("v"))
        try state.apply(batch, through: AppliedPosition(index: 3, term: 1))
        for sub in ["log", "state"] {
            let names = try FileSystem.listDirectory(dir.sub(sub))
            #expect(names.contains("data.mdb"), "\(sub): \(names)")
            #expect(names.contains("lock.mdb"), "\(sub): \(names)")
            #expect(names.contains(StoreDirectory.markerName), "\(sub): \(names)")
        }
        try log.close()
        try state.close()
    }

    @Test("keys past LMDB's 511 bytes are held through the long-key layout; past the cluster limit refused, in both sync modes", arguments: StateSyncMode.allCases)
    func longKeys(mode: StateSyncMode) throws {
        let dir = TestDirectory("lmdb-long-keys-\(mode)")
        defer { dir.remove() }
        let store = try lmdb.openStateStore(options(dir.path, stateSync: mode))
        defer { try? store.close() }
        var fits = WriteBatch()
        fits.put(Array(repeating: 0x61, count: 510), bytes("short"))
        fits.put(Array(repeating: 0x61, count: 511), bytes("long"))
        fits.put(Array(repeating: 0x61, count: StateStoreLimits.cluster.maxKeyBytes), bytes("longest"))
        try store.apply(fits, through: AppliedPosition(index: 1, term: 1))
        var tooLong = WriteBatch()
        tooLong.put(bytes("fine"), bytes("v"))
        tooLong.put(Array(repeating: 0x61, count: StateStoreLimits.cluster.maxKeyBytes + 1), bytes("no"))
        expectInvalidArgument { try store.apply(tooLong, through: AppliedPosition(index: 2, term: 1)) }
        #expect(try store.get(bytes("fine")) == nil)
        #expect(try store.get(Array(repeating: 0x61, count: 511)) == bytes("long"))
        #expect(try store.scan(KeyRange(from: Array(repeating: 0x61, count: 600))).map(\.value) == [bytes("longest")])
        #expect(try store.scan(KeyRange(from: Array(repeating: 0x61, count: 509))).map(\.value) == [bytes("short"), bytes("long"), bytes("longest")])
    }

    /// The store under the write-back buffer, each apply committed.
    func rawStore(_ path: String) throws -> LMDBStateStore {
        try StoreDirectory.prepare(path, backend: "lmdb", kind: .state, sync: false)
        return try LMDBStateStore(directory: path, mapSize: LMDBBackend.defaultMapSize, sync: false)
    }

    @Test("short keys keep their on-disk layout (0x00 ‖ key); long keys live in the trie under 0x01 with the counter at 0x02")
    func physicalLayout() throws {
        let dir = TestDirectory("lmdb-layout")
        defer { dir.remove() }
        let store = try rawStore(dir.path)
        defer { try? store.close() }
        let long = seededBytes(1_200, seed: 3)
        var batch = WriteBatch()
        batch.put([], bytes("empty"))
        batch.put(bytes("a"), bytes("1"))
        batch.put(Array(repeating: 0x62, count: 510), bytes("2"))
        batch.put(long, bytes("3"))
        try store.apply(batch, through: AppliedPosition(index: 1, term: 1))
        let physical = try store.physicalKeys()
        #expect(physical.filter { $0.first == 0x00 } == [[0x00], [0x00] + bytes("a"), [0x00] + Array(repeating: 0x62, count: 510)])
        // 1,200 bytes = 501 + 501 + 198: two edges and a leaf, then the counter.
        let trie = physical.filter { $0.first == 0x01 }
        #expect(trie.count == 3)
        #expect(trie.allSatisfy { $0.count <= 511 })
        #expect(trie.contains([0x01, 0, 0, 0, 0, 0, 0, 0, 0] + long.prefix(501) + [0x01]), "the root's edge for the first chunk")
        #expect(physical.last == [0x02])
    }

    @Test("create/delete cycles of long keys leave no trie entry and no counter behind")
    func longKeyCyclesLeaveNothing() throws {
        let dir = TestDirectory("lmdb-long-cycles")
        defer { dir.remove() }
        let store = try rawStore(dir.path)
        defer { try? store.close() }
        var rng = SplitMix64(seed: 23)
        let keys = StateStoreLimitsConformanceTests.longKeys(seed: 11).filter { $0.count > 510 }
        var index: UInt64 = 0
        var short = WriteBatch()
        short.put(bytes("stays"), bytes("here"))
        index += 1
        try store.apply(short, through: AppliedPosition(index: index, term: 1))
        for cycle in 0..<4 {
            var order = keys
            order.shuffle(using: &rng)
            for chunk in stride(from: 0, to: order.count, by: 40) {
                var batch = WriteBatch()
                for key in order[chunk..<min(chunk + 40, order.count)] { batch.put(key, bytes("c\(cycle)")) }
                index += 1
                try store.apply(batch, through: AppliedPosition(index: index, term: 1))
            }
            #expect(try store.physicalKeys().contains { $0.first == 0x01 })
            #expect(try store.scan(.all).count == Set(keys).count + 1)
            order.shuffle(using: &rng)
            // Delete one key at a time at first, so parents are checked with siblings left; then the rest at once.
            for key in order.prefix(20) {
                index += 1
                try store.apply(WriteBatch([.delete(key: key)]), through: AppliedPosition(index: index, term: 1))
            }
            var rest = WriteBatch()
            for key in order.dropFirst(20) { rest.delete(key) }
            // Put-then-delete inside one batch leaves nothing either.
            rest.put(seededBytes(3_000, seed: UInt64(cycle)), bytes("brief"))
            rest.delete(seededBytes(3_000, seed: UInt64(cycle)))
            index += 1
            try store.apply(rest, through: AppliedPosition(index: index, term: 1))
            #expect(try store.physicalKeys() == [[0x00] + bytes("stays")], "cycle \(cycle)")
        }
    }

    @Test("checkpoint mode: applies commit nothing until a checkpoint, which is one synced commit; close writes the rest")
    func checkpointMode() throws {
        let dir = TestDirectory("lmdb-checkpoint")
        defer { dir.remove() }
        let store = try lmdb.openStateStore(options(dir.path, stateSync: .checkpoint))
        let before = store.syncCount
        for index in 1...20 {
            var batch = WriteBatch()
            batch.put(bytes("k\(index)"), bytes("v\(index)"))
            try store.apply(batch, through: AppliedPosition(index: UInt64(index), term: 1))
        }
        #expect(store.syncCount == before, "applies in checkpoint mode sync nothing")
        #expect(try store.checkpoint() == AppliedPosition(index: 20, term: 1))
        #expect(store.syncCount == before + 2, "a checkpoint is one LMDB commit: fdatasync + meta page")
        #expect(try store.checkpoint() == AppliedPosition(index: 20, term: 1))
        #expect(store.syncCount == before + 2, "a checkpoint with nothing new commits nothing")
        var batch = WriteBatch()
        batch.delete(bytes("k1"))
        try store.apply(batch, through: AppliedPosition(index: 21, term: 1))
        try store.close()

        // What a restart sees: the engine's own store holds everything, the buffer is gone.
        let reopened = try lmdb.openStateStore(options(dir.path, stateSync: .always))
        defer { try? reopened.close() }
        #expect(try reopened.appliedPosition() == AppliedPosition(index: 21, term: 1))
        #expect(try reopened.get(bytes("k1")) == nil)
        #expect(try reopened.get(bytes("k20")) == bytes("v20"))
    }
}

/// Flips one byte of every occurrence of `marker` in `bytes`.
func flipAll(_ marker: Bytes, in bytes: Bytes) -> (bytes: Bytes, count: Int) {
    var result = bytes
    var count = 0
    var start = 0
    while start + marker.count <= result.count {
        if result[start..<start + marker.count].elementsEqual(marker) {
            result[start + marker.count / 2] ^= 0x5A
            count += 1
            start += marker.count
        } else {
            start += 1
        }
    }
    return (result, count)
}
