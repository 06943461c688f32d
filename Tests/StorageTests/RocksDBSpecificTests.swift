import Foundation
import RaftLabBackends
import StorageCore
import Testing
@testable import RocksDBBackend

/// What only the rocksdb backend does: its files and column families, one
/// sync per batch, checkpoint-mode syncs, a chunked atomic restore, torn WAL
/// tails tolerated and damage reported.
@Suite("RocksDB backend")
struct RocksDBSpecificTests {
    let rocksdb = RocksDBBackend()

    /// The damaged record is written through RocksDB, so RocksDB's own
    /// checksums pass and only the record's can catch it, as after a bad
    /// write upstream. A restore of ~22 MiB before its break writes five
    /// unsynced chunks, then removes them.
    static let hooks = BackendHooks(
        entryDamage: .closed { directory, entry in
            let database = try RocksDBDatabase(
                directory: directory, sync: true, settings: RocksDBSettings(), families: ["log", "hard_state"], recovery: 0)
            var record = LogEntryCodec.encode(entry)
            record[record.count - 1] ^= 0x01
            let damaged = record
            try database.write { $0.put(RocksDBDatabase.families(2)[0], entry.index.bigEndianBytes, damaged) }
            try database.close()
        },
        lockWord: "lock",
        largeRestore: (sync: true, mode: .checkpoint),
        logSyncs: (perCall: 1, compaction: 1, unsyncedClose: 1),
        badSettings: [
            ["block_cache_size": "big"], ["block_cache_size": "0"], ["write_buffer_size": "-5"], ["compression": "brotli"],
        ])

    /// Each state apply synced, unless `stateSync` says otherwise.
    func options(_ path: String, sync: Bool = true, settings: [String: String] = [:], stateSync: StateSyncMode = .always) -> StoreOptions {
        StoreOptions(directory: path, sync: sync, settings: settings, stateSync: stateSync)
    }

    @Test("writes land in CURRENT, MANIFEST-*, OPTIONS-* and .log/.sst files, with a column family per kind of record")
    func expectedFiles() throws {
        let dir = TestDirectory("rocksdb-files")
        defer { dir.remove() }
        let log = try rocksdb.openLogStore(options(dir.sub("log")))
        try log.append(entries(1...3, term: 1), hardState: HardState(term: 1, votedFor: 1, commit: 1))
        let state = try rocksdb.openStateStore(options(dir.sub("state")))
        var batch = WriteBatch()
        batch.put(bytes("k"), bytes("v"))
        try state.apply(batch, through: AppliedPosition(index: 3, term: 1))
        for (sub, families) in [("log", ["log", "hard_state"]), ("state", ["state"])] {
            let names = try FileSystem.listDirectory(dir.sub(sub))
            #expect(names.contains("CURRENT"), "\(sub): \(names)")
            #expect(names.contains { $0.hasPrefix("MANIFEST-") }, "\(sub): \(names)")
            #expect(names.contains { $0.hasSuffix(".log") || $0.hasSuffix(".sst") }, "\(sub): \(names)")
            #expect(names.contains(StoreDirectory.markerName), "\(sub): \(names)")
            let optionsFile = try #require(names.filter { $0.hasPrefix("OPTIONS-") }.max())
            let text = String(decoding: try #require(try FileSystem.readFile(dir.sub("\(sub)/\(optionsFile)"))), as: UTF8.self)
            for family in families { #expect(text.contains("[CFOptions \"\(family)\"]"), "\(sub) has column family \(family)") }
        }
        try log.close()
        try state.close()
    }

    @Test("a small write buffer pushes data into .sst tables, and everything still reads back")
    func tablesOnDisk() throws {
        let dir = TestDirectory("rocksdb-tables")
        defer { dir.remove() }
        let settings = ["write_buffer_size": String(64 << 10), "compression": "lz4", "block_cache_size": String(1 << 20)]
        let written = entries(1...3_000, term: 1, size: 200)
        do {
            let log = try rocksdb.openLogStore(options(dir.path, sync: false, settings: settings))
            for start in stride(from: 0, to: written.count, by: 100) {
                try log.append(Array(written[start..<start + 100]))
            }
            try log.compact(through: 500, term: 1)
            try log.truncateSuffix(after: 2_900)
            try log.close()
        }
        let log = try rocksdb.openLogStore(options(dir.path, settings: settings))
        defer { try? log.close() }
        #expect(try FileSystem.listDirectory(dir.path).contains { $0.hasSuffix(".sst") })
        #expect(try log.firstIndex() == 501)
        #expect(try log.lastIndex() == 2_900)
        #expect(try log.entries(501...2_900, maxBytes: .max) == Array(written[500..<2_900]))
    }

    @Test("every compression setting opens")
    func compressionSettings() {
        let dir = TestDirectory("rocksdb-compression")
        defer { dir.remove() }
        for compression in ["none", "snappy", "lz4", "zstd"] {
            let store = try? rocksdb.openStateStore(options(dir.sub(compression), settings: ["compression": compression]))
            #expect(store != nil, "compression \(compression) opens")
            try? store?.close()
        }
    }

    @Test("every durable call is one synced write batch; checkpoint mode syncs once per checkpoint; a restore once")
    func syncCounting() throws {
        let dir = TestDirectory("rocksdb-syncs")
        defer { dir.remove() }
        var batch = WriteBatch()
        for i in 0..<100 { batch.put(bytes("k\(i)"), bytes("v\(i)")) }
        let state = try rocksdb.openStateStore(options(dir.sub("state")))
        var before = state.syncCount
        try state.apply(batch, through: AppliedPosition(index: 1, term: 1))
        var source = ArrayKeyValueSource([KeyValue(key: bytes("a"), value: bytes("b"))])
        try state.restore(from: &source, position: AppliedPosition(index: 2, term: 1))
        #expect(state.syncCount == before + 2)
        try state.close()

        // Checkpoint mode: applies are written with sync=0, a checkpoint syncs them all with one flush_wal.
        let checkpointed = try rocksdb.openStateStore(options(dir.sub("checkpointed"), stateSync: .checkpoint))
        before = checkpointed.syncCount
        for index in 1...10 {
            try checkpointed.apply(batch, through: AppliedPosition(index: UInt64(index), term: 1))
        }
        #expect(checkpointed.syncCount == before)
        #expect(try checkpointed.checkpoint() == AppliedPosition(index: 10, term: 1))
        #expect(checkpointed.syncCount == before + 1)
        try checkpointed.checkpoint()
        #expect(checkpointed.syncCount == before + 1, "nothing new: no sync")
        try checkpointed.close()
    }

    @Test("pairs of an interrupted restore's generation are removed at open")
    func interruptedRestoreIsCleanedUp() throws {
        let dir = TestDirectory("rocksdb-interrupted")
        defer { dir.remove() }
        do {
            let store = try rocksdb.openStateStore(options(dir.path))
            var batch = WriteBatch()
            batch.put(bytes("kept"), bytes("yes"))
            try store.apply(batch, through: AppliedPosition(index: 3, term: 1))
            try store.close()
        }
        // What a crash mid-restore leaves: pairs under the next generation, no switch.
        do {
            let database = try RocksDBDatabase(
                directory: dir.path, sync: true, settings: RocksDBSettings(), families: ["state"], recovery: 2)
            let state = RocksDBDatabase.families(1)[0]
            try database.write { batch in
                batch.put(state, RocksDBStateStore.prefix(1) + bytes("half-restored"), bytes("must vanish"))
            }
            try database.close()
        }
        do {
            let store = try rocksdb.openStateStore(options(dir.path))
            #expect(try store.scan(.all) == [KeyValue(key: bytes("kept"), value: bytes("yes"))])
            try store.close()
        }
        let database = try RocksDBDatabase(
            directory: dir.path, sync: true, settings: RocksDBSettings(), families: ["state"], recovery: 2)
        defer { try? database.close() }
        #expect(try database.get(RocksDBDatabase.families(1)[0], RocksDBStateStore.prefix(1) + bytes("half-restored")) == nil)
    }

    @Test("damage inside RocksDB's WAL is reported as .corrupted, not skipped; a torn last record is dropped")
    func walDamageAndTornTail() throws {
        let dir = TestDirectory("rocksdb-wal")
        defer { dir.remove() }
        let marker = bytes("PAYLOAD-TO-BE-DAMAGED-ON-DISK")
        func write(_ path: String) throws {
            let log = try rocksdb.openLogStore(options(path))
            try log.append(entries(1...4, term: 1))
            try log.append([LogEntry(index: 5, term: 1, data: marker)] + entries(6...8, term: 1))
            try log.append(entries(9...12, term: 1))
            try log.close()
        }
        func walFile(_ path: String) throws -> String {
            let names = try FileSystem.listDirectory(path).filter { $0.hasSuffix(".log") }
            let sizes = names.map { (name: $0, size: WALSpecificTests.fileSize(path + "/" + $0).size) }
            return path + "/" + (try #require(sizes.max { $0.size < $1.size })).name
        }

        try write(dir.sub("damaged"))
        let damagedPath = try walFile(dir.sub("damaged"))
        let damaged = flipAll(marker, in: try #require(try FileSystem.readFile(damagedPath)))
        #expect(damaged.count == 1)
        try FileSystem.writeFile(damagedPath, damaged.bytes, sync: false)
        do {
            let log = try rocksdb.openLogStore(options(dir.sub("damaged")))
            defer { try? log.close() }
            _ = try log.entries(1...12, maxBytes: .max)
            Issue.record("a damaged WAL record was read or skipped silently")
        } catch let StorageError.corrupted(path, reason) {
            #expect(path == dir.sub("damaged"))
            #expect(reason.contains("Corruption"))
        }

        // A crash mid-append leaves the last WAL record short: it never returned, so it is dropped.
        try write(dir.sub("torn"))
        let tornPath = try walFile(dir.sub("torn"))
        let contents = try #require(try FileSystem.readFile(tornPath))
        try FileSystem.writeFile(tornPath, Array(contents.dropLast(20)), sync: false)
        let log = try rocksdb.openLogStore(options(dir.sub("torn")))
        defer { try? log.close() }
        #expect(try log.lastIndex() == 8)
        #expect(try log.entries(1...8, maxBytes: .max).map(\.index) == Array(1...8))
    }

}
