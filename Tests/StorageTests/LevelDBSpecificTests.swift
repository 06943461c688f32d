@testable import LevelDBBackend
import RaftLabBackends
import StorageCore
import Testing

/// What only the leveldb backend does: its files, one sync per batch, and
/// corruption caught either by our record checksums or by LevelDB's own.
@Suite("LevelDB backend")
struct LevelDBSpecificTests {
    let leveldb = LevelDBBackend()

    /// The damaged record is written through LevelDB, so LevelDB's own
    /// checksums pass and only the record's can catch it, as after a bad
    /// write upstream. A restore runs in several batches.
    static let hooks = BackendHooks(
        entryDamage: .closed { directory, entry in
            let database = try LevelDBDatabase(directory: directory, sync: true, settings: LevelDBSettings())
            var record = LogEntryCodec.encode(entry)
            record[record.count - 1] ^= 0x01
            let batch = LevelDBBatch()
            batch.put(LevelDBKeys.entry(entry.index), record)
            try database.write(batch)
            try database.close()
        },
        lockWord: "lock",
        largeRestore: (sync: false, mode: .always),
        logSyncs: (perCall: 1, compaction: 1, unsyncedClose: 1),
        badSettings: [["write_buffer_size": "big"], ["write_buffer_size": "0"], ["compression": "zstd"]])

    /// Each state apply synced, unless `stateSync` says otherwise.
    func options(_ path: String, sync: Bool = true, settings: [String: String] = [:], stateSync: StateSyncMode = .always) -> StoreOptions {
        StoreOptions(directory: path, sync: sync, settings: settings, stateSync: stateSync)
    }

    @Test("writes land in CURRENT, MANIFEST-* and .log/.ldb files in each store directory")
    func expectedFiles() throws {
        let dir = TestDirectory("leveldb-files")
        defer { dir.remove() }
        let log = try leveldb.openLogStore(options(dir.sub("log")))
        try log.append(entries(1...3, term: 1))
        let state = try leveldb.openStateStore(options(dir.sub("state")))
        var batch = WriteBatch()
        batch.put(bytes("k"), bytes("v"))
        try state.apply(batch, through: AppliedPosition(index: 3, term: 1))
        for sub in ["log", "state"] {
            let names = try FileSystem.listDirectory(dir.sub(sub))
            #expect(names.contains("CURRENT"), "\(sub): \(names)")
            #expect(names.contains { $0.hasPrefix("MANIFEST-") }, "\(sub): \(names)")
            #expect(names.contains { $0.hasSuffix(".log") || $0.hasSuffix(".ldb") }, "\(sub): \(names)")
            #expect(names.contains(StoreDirectory.markerName), "\(sub): \(names)")
        }
        try log.close()
        try state.close()
    }

    @Test("a small write buffer pushes data into .ldb tables, and everything still reads back")
    func tablesOnDisk() throws {
        let dir = TestDirectory("leveldb-tables")
        defer { dir.remove() }
        let settings = ["write_buffer_size": String(64 << 10), "compression": "none"]
        let written = entries(1...2_000, term: 1, size: 200)
        do {
            let log = try leveldb.openLogStore(options(dir.path, sync: false, settings: settings))
            for start in stride(from: 0, to: written.count, by: 100) {
                try log.append(Array(written[start..<start + 100]))
            }
            try log.compact(through: 500, term: 1)
            try log.close()
        }
        let log = try leveldb.openLogStore(options(dir.path, settings: settings))
        defer { try? log.close() }
        #expect(try FileSystem.listDirectory(dir.path).contains { $0.hasSuffix(".ldb") })
        #expect(try log.firstIndex() == 501)
        #expect(try log.entries(501...2_000, maxBytes: .max) == Array(written[500...]))
    }

    @Test("a state apply or restore is one synced write batch; checkpoint mode syncs once per checkpoint")
    func syncCounting() throws {
        let dir = TestDirectory("leveldb-syncs")
        defer { dir.remove() }
        let state = try leveldb.openStateStore(options(dir.sub("state")))
        var before = state.syncCount
        var batch = WriteBatch()
        for i in 0..<100 { batch.put(bytes("k\(i)"), bytes("v\(i)")) }
        try state.apply(batch, through: AppliedPosition(index: 1, term: 1))
        var source = ArrayKeyValueSource([KeyValue(key: bytes("a"), value: bytes("b"))])
        try state.restore(from: &source, position: AppliedPosition(index: 2, term: 1))
        #expect(state.syncCount == before + 2)
        try state.close()

        // Checkpoint mode: applies are written with sync=0, a checkpoint syncs them all once.
        let checkpointed = try leveldb.openStateStore(options(dir.sub("checkpointed"), stateSync: .checkpoint))
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

    @Test("damage in LevelDB's own files is reported as .corrupted, not skipped")
    func corruptedLogFile() throws {
        let dir = TestDirectory("leveldb-corrupt-file")
        defer { dir.remove() }
        let marker = bytes("PAYLOAD-TO-BE-DAMAGED-ON-DISK")
        do {
            let log = try leveldb.openLogStore(options(dir.path))
            try log.append(entries(1...4, term: 1))
            try log.append([LogEntry(index: 5, term: 1, data: marker)] + entries(6...8, term: 1))
            try log.append(entries(9...12, term: 1))
            try log.close()
        }
        // Before the first reopen the records are still in the .log file, uncompressed.
        var damagedFiles = 0
        for name in try FileSystem.listDirectory(dir.path) where name.hasSuffix(".log") {
            let path = dir.sub(name)
            guard let contents = try FileSystem.readFile(path) else { continue }
            let damaged = flipAll(marker, in: contents)
            if damaged.count > 0 {
                try FileSystem.writeFile(path, damaged.bytes, sync: false)
                damagedFiles += 1
            }
        }
        #expect(damagedFiles == 1)
        do {
            let log = try leveldb.openLogStore(options(dir.path))
            // Should it open, the damaged entry must still not come back as data.
            defer { try? log.close() }
            _ = try log.entries(1...12, maxBytes: .max)
            Issue.record("a damaged log record was read or skipped silently")
        } catch let StorageError.corrupted(path, reason) {
            #expect(path == dir.path)
            #expect(reason.contains("Corruption"))
        }
    }

}
