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

    @Test("settings are checked")
    func badSettings() {
        let dir = TestDirectory("rocksdb-bad-setting")
        defer { dir.remove() }
        for settings in [
            ["block_cache_size": "big"], ["block_cache_size": "0"], ["write_buffer_size": "-5"], ["compression": "brotli"],
        ] {
            #expect(throws: StorageError.self) { _ = try rocksdb.openLogStore(options(dir.path, settings: settings)) }
        }
        #expect(!FileSystem.exists(dir.path), "nothing is created for a refused setting")
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
        let log = try rocksdb.openLogStore(options(dir.sub("log")))
        var before = log.syncCount
        try log.append(entries(1...64, term: 1), hardState: HardState(term: 1, votedFor: 1, commit: 0))
        #expect(log.syncCount == before + 1)
        before = log.syncCount
        try log.saveHardState(HardState(term: 2, votedFor: nil, commit: 10))
        try log.truncateSuffix(after: 60)
        try log.compact(through: 5, term: 1)
        #expect(log.syncCount == before + 3)
        before = log.syncCount
        try log.append([])
        try log.truncateSuffix(after: 60)
        try log.compact(through: 3, term: 1)
        #expect(log.syncCount == before, "calls that change nothing write nothing")
        try log.close()

        var batch = WriteBatch()
        for i in 0..<100 { batch.put(bytes("k\(i)"), bytes("v\(i)")) }
        let state = try rocksdb.openStateStore(options(dir.sub("state")))
        before = state.syncCount
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

        let loose = try rocksdb.openLogStore(options(dir.sub("loose"), sync: false))
        try loose.append(entries(1...64, term: 1))
        #expect(loose.syncCount == 0)
        try loose.close()
        #expect(loose.syncCount == 1, "close syncs the unsynced WAL")
    }

    @Test("reopen keeps entries, compaction point, hard state, state and applied position")
    func reopen() throws {
        let dir = TestDirectory("rocksdb-reopen")
        defer { dir.remove() }
        do {
            let log = try rocksdb.openLogStore(options(dir.sub("log"), sync: false))
            try log.append(entries(1...50, term: 3), hardState: HardState(term: 3, votedFor: 2, commit: 40))
            try log.compact(through: 20, term: 3)
            try log.append(entries(45...46, term: 4))
            try log.close()
            let state = try rocksdb.openStateStore(options(dir.sub("state"), sync: false))
            var batch = WriteBatch()
            batch.put([], bytes("empty key"))
            batch.put([0xFF, 0xFF, 0xFF, 0xFF, 0xFF], bytes("looks like the meta prefix"))
            batch.put(bytes("k"), [])
            try state.apply(batch, through: AppliedPosition(index: 46, term: 4))
            try state.close()
        }
        let log = try rocksdb.openLogStore(options(dir.sub("log")))
        defer { try? log.close() }
        #expect(try log.snapshotIndex() == 20)
        #expect(try log.term(at: 20) == 3)
        #expect(try log.lastIndex() == 46)
        #expect(try log.entries(21...46, maxBytes: .max) == entries(21...44, term: 3) + entries(45...46, term: 4))
        #expect(try log.hardState() == HardState(term: 3, votedFor: 2, commit: 40))
        let state = try rocksdb.openStateStore(options(dir.sub("state")))
        defer { try? state.close() }
        #expect(try state.appliedPosition() == AppliedPosition(index: 46, term: 4))
        #expect(try state.scan(.all) == [
            KeyValue(key: [], value: bytes("empty key")),
            KeyValue(key: bytes("k"), value: []),
            KeyValue(key: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF], value: bytes("looks like the meta prefix")),
        ])
    }

    @Test("a restore bigger than one chunk that breaks off leaves the old state; a whole one replaces it")
    func largeRestore() throws {
        let dir = TestDirectory("rocksdb-large-restore")
        defer { dir.remove() }
        // 22 MiB before the break: five unsynced chunks written, then removed.
        try checkLargeRestore { try rocksdb.openStateStore(options(dir.path, stateSync: .checkpoint)) }
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

    @Test("a corrupted entry value is reported as .corrupted by the record checksum")
    func corruptedEntryValue() throws {
        let dir = TestDirectory("rocksdb-corrupt-value")
        defer { dir.remove() }
        do {
            let log = try rocksdb.openLogStore(options(dir.path))
            try log.append(entries(1...8, term: 1))
            try log.close()
        }
        // RocksDB's checksums pass: the record is intact for RocksDB but its
        // payload no longer matches its own CRC, as after a bad write upstream.
        do {
            let database = try RocksDBDatabase(
                directory: dir.path, sync: true, settings: RocksDBSettings(), families: ["log", "hard_state"], recovery: 0)
            var record = LogEntryCodec.encode(entries(5...5, term: 1)[0])
            record[record.count - 1] ^= 0x01
            try database.write { $0.put(RocksDBDatabase.families(2)[0], UInt64(5).bigEndianBytes, record) }
            try database.close()
        }
        let log = try rocksdb.openLogStore(options(dir.path))
        defer { try? log.close() }
        #expect(try log.entries(1...4, maxBytes: .max) == entries(1...4, term: 1))
        for read: () throws -> Void in [
            { _ = try log.entries(1...8, maxBytes: .max) }, { _ = try log.entry(at: 5) }, { _ = try log.term(at: 5) },
        ] {
            do {
                try read()
                Issue.record("a damaged entry was returned")
            } catch let StorageError.corrupted(path, reason) {
                #expect(path.hasSuffix("(log entry 5)"))
                #expect(reason.contains("checksum"))
            }
        }
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

    @Test("a second open of a live store fails with RocksDB's lock error, not a crash")
    func doubleOpen() throws {
        let dir = TestDirectory("rocksdb-double-open")
        defer { dir.remove() }
        let first = try rocksdb.openLogStore(options(dir.path))
        defer { try? first.close() }
        do {
            _ = try rocksdb.openLogStore(options(dir.path))
            Issue.record("a second open of the same directory succeeded")
        } catch let StorageError.engine(backend, message) {
            #expect(backend == "rocksdb")
            #expect(message.lowercased().contains("lock"))
        }
    }
}
