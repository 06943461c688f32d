@testable import LevelDBBackend
import RaftLabBackends
import StorageCore
import Testing

/// What only the leveldb backend does: its files, one sync per batch, and
/// corruption caught either by our record checksums or by LevelDB's own.
@Suite("LevelDB backend")
struct LevelDBSpecificTests {
    @Test("a restore bigger than one transaction that breaks off leaves the old state; a whole one replaces it")
    func largeRestore() throws {
        let dir = TestDirectory("leveldb-large-restore")
        defer { dir.remove() }
        try checkLargeRestore { try leveldb.openStateStore(options(dir.path, sync: false)) }
    }

    let leveldb = LevelDBBackend()

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

    @Test("settings are checked")
    func badSettings() {
        let dir = TestDirectory("leveldb-bad-setting")
        defer { dir.remove() }
        for settings in [["write_buffer_size": "big"], ["write_buffer_size": "0"], ["compression": "zstd"]] {
            #expect(throws: StorageError.self) { _ = try leveldb.openLogStore(options(dir.path, settings: settings)) }
        }
    }

    @Test("every mutating call is one synced write batch: 64 entries plus a hard state sync once")
    func syncCounting() throws {
        let dir = TestDirectory("leveldb-syncs")
        defer { dir.remove() }
        let log = try leveldb.openLogStore(options(dir.sub("log")))
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

        let state = try leveldb.openStateStore(options(dir.sub("state")))
        before = state.syncCount
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

        let loose = try leveldb.openLogStore(options(dir.sub("loose"), sync: false))
        try loose.append(entries(1...64, term: 1))
        #expect(loose.syncCount == 0)
        try loose.close()
        #expect(loose.syncCount == 1, "close flushes the unsynced .log")
    }

    @Test("reopen keeps entries, compaction point, hard state, state and applied position")
    func reopen() throws {
        let dir = TestDirectory("leveldb-reopen")
        defer { dir.remove() }
        do {
            let log = try leveldb.openLogStore(options(dir.sub("log"), sync: false))
            try log.append(entries(1...50, term: 3), hardState: HardState(term: 3, votedFor: 2, commit: 40))
            try log.compact(through: 20, term: 3)
            try log.append(entries(45...46, term: 4))
            try log.close()
            let state = try leveldb.openStateStore(options(dir.sub("state"), sync: false))
            var batch = WriteBatch()
            batch.put([], bytes("empty key"))
            batch.put([0xFF, 0x00], bytes("reserved"))
            batch.put(bytes("k"), [])
            try state.apply(batch, through: AppliedPosition(index: 46, term: 4))
            try state.close()
        }
        let log = try leveldb.openLogStore(options(dir.sub("log")))
        defer { try? log.close() }
        #expect(try log.snapshotIndex() == 20)
        #expect(try log.term(at: 20) == 3)
        #expect(try log.lastIndex() == 46)
        #expect(try log.entries(21...46, maxBytes: .max) == entries(21...44, term: 3) + entries(45...46, term: 4))
        #expect(try log.hardState() == HardState(term: 3, votedFor: 2, commit: 40))
        let state = try leveldb.openStateStore(options(dir.sub("state")))
        defer { try? state.close() }
        #expect(try state.appliedPosition() == AppliedPosition(index: 46, term: 4))
        #expect(try state.scan(.all) == [
            KeyValue(key: [], value: bytes("empty key")),
            KeyValue(key: bytes("k"), value: []),
            KeyValue(key: [0xFF, 0x00], value: bytes("reserved")),
        ])
    }

    @Test("a corrupted entry value is reported as .corrupted by the record checksum")
    func corruptedEntryValue() throws {
        let dir = TestDirectory("leveldb-corrupt-value")
        defer { dir.remove() }
        do {
            let log = try leveldb.openLogStore(options(dir.path))
            try log.append(entries(1...8, term: 1))
            try log.close()
        }
        // LevelDB's checksums pass: the record is intact for LevelDB but its
        // payload no longer matches its own CRC, as after a bad write upstream.
        do {
            let database = try LevelDBDatabase(directory: dir.path, sync: true, settings: LevelDBSettings())
            var record = LogEntryCodec.encode(entries(5...5, term: 1)[0])
            record[record.count - 1] ^= 0x01
            let batch = LevelDBBatch()
            batch.put(LevelDBKeys.entry(5), record)
            try database.write(batch)
            try database.close()
        }
        let log = try leveldb.openLogStore(options(dir.path))
        defer { try? log.close() }
        #expect(try log.entries(1...4, maxBytes: .max) == entries(1...4, term: 1))
        for read: () throws -> Void in [
            { _ = try log.entries(1...8, maxBytes: .max) },
            { _ = try log.entry(at: 5) },
            { _ = try log.term(at: 5) },
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

    @Test("a snapshot read on one task while another task writes and reads the log")
    func concurrentUse() async throws {
        let dir = TestDirectory("leveldb-concurrent")
        defer { dir.remove() }
        let store = try leveldb.openStateStore(options(dir.sub("state"), sync: false))
        let log = try leveldb.openLogStore(options(dir.sub("log"), sync: false))
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

    @Test("a directory of another backend is refused with .backendMismatch")
    func foreignDirectory() throws {
        let dir = TestDirectory("leveldb-foreign")
        defer { dir.remove() }
        let other = try BackendRegistry.standard.openStateStore(backend: "lmdb", StoreOptions(directory: dir.sub("state")))
        try other.apply(WriteBatch(), through: AppliedPosition(index: 1, term: 1))
        try other.close()
        do {
            _ = try leveldb.openStateStore(options(dir.sub("state")))
            Issue.record("leveldb opened an lmdb directory")
        } catch let error as StorageError {
            guard case .backendMismatch(_, let expected, let found) = error else {
                Issue.record("expected .backendMismatch, got \(error)")
                return
            }
            #expect(expected.hasPrefix("leveldb"))
            #expect(found.hasPrefix("lmdb"))
        }
        #expect(!FileSystem.exists(dir.sub("state/CURRENT")), "nothing was written into the foreign directory")
    }

    @Test("a second open of a live store fails with LevelDB's lock error, not a crash")
    func doubleOpen() throws {
        let dir = TestDirectory("leveldb-double-open")
        defer { dir.remove() }
        let first = try leveldb.openLogStore(options(dir.path))
        defer { try? first.close() }
        do {
            _ = try leveldb.openLogStore(options(dir.path))
            Issue.record("a second open of the same directory succeeded")
        } catch let StorageError.engine(backend, message) {
            #expect(backend == "leveldb")
            #expect(message.contains("lock"))
        }
    }
}
