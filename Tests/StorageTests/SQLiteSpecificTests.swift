import Foundation
import RaftLabBackends
import StorageCore
import Testing
@testable import SQLiteBackend

/// What only the sqlite backend does: a database file in WAL journal mode,
/// statements prepared once, FULL or NORMAL commits and their syncs,
/// snapshots from read transactions, damage reported.
@Suite("SQLite backend")
struct SQLiteSpecificTests {
    let sqlite = SQLiteBackend()

    /// Closing the last connection copies the WAL into log.db, where the
    /// payload is damaged in place. The directory lock is a `LOCK` file.
    static let hooks = BackendHooks(
        entryDamage: .closed { directory, entry in
            let path = directory + "/log.db"
            let damaged = flipAll(entry.data, in: try #require(try FileSystem.readFile(path)))
            #expect(damaged.count == 1)
            try FileSystem.writeFile(path, damaged.bytes, sync: false)
        },
        entrySource: { "log.db (log entry \($0))" },
        lockWord: "locked",
        largeRestore: (sync: true, mode: .checkpoint),
        logSyncs: (perCall: 1, compaction: 1, unsyncedClose: nil),
        badSettings: [["cache_size": "big"], ["cache_size": "12"], ["checkpoint_pages": "0"], ["checkpoint_pages": "many"]])

    /// Each state apply synced, unless `stateSync` says otherwise.
    func options(_ path: String, sync: Bool = true, settings: [String: String] = [:], stateSync: StateSyncMode = .always) -> StoreOptions {
        StoreOptions(directory: path, sync: sync, settings: settings, stateSync: stateSync)
    }

    @Test("each store is one database file in WAL journal mode, beside its -wal while open")
    func expectedFiles() throws {
        let dir = TestDirectory("sqlite-files")
        defer { dir.remove() }
        let log = try sqlite.openLogStore(options(dir.sub("log")))
        try log.append(entries(1...3, term: 1), hardState: HardState(term: 1, votedFor: 1, commit: 1))
        let state = try sqlite.openStateStore(options(dir.sub("state")))
        var batch = WriteBatch()
        batch.put(bytes("k"), bytes("v"))
        try state.apply(batch, through: AppliedPosition(index: 3, term: 1))
        for (sub, file) in [("log", "log.db"), ("state", "state.db")] {
            let names = try FileSystem.listDirectory(dir.sub(sub))
            #expect(names.contains(file), "\(sub): \(names)")
            #expect(names.contains(file + "-wal"), "\(sub): \(names)")
            #expect(names.contains(StoreDirectory.markerName), "\(sub): \(names)")
            // The journal mode is recorded in the database header (bytes 18 and 19 are 2 in WAL mode).
            let header = try #require(try FileSystem.readFile(dir.sub("\(sub)/\(file)")))
            #expect(Array(header[0..<16]) == bytes("SQLite format 3") + [0])
            #expect(header[18] == 2 && header[19] == 2)
        }
        try log.close()
        try state.close()
    }

    @Test("statements are prepared once per connection and reused")
    func preparedStatementsAreReused() throws {
        let dir = TestDirectory("sqlite-statements")
        defer { dir.remove() }
        let log = try #require(try sqlite.openLogStore(options(dir.sub("log"), sync: false)) as? KeyValueLogStore<SQLiteLogEngine>)
        let state = try #require(try sqlite.openStateStore(options(dir.sub("state"), sync: false)) as? SQLiteStateStore)
        defer {
            try? log.close()
            try? state.close()
        }
        func round(_ index: UInt64) throws {
            try log.append(entries(index...index + 1, term: 1), hardState: HardState(term: 1, votedFor: 1, commit: index))
            try log.append(entries(index + 1...index + 1, term: 1))
            _ = try log.entries(1...index + 1, maxBytes: .max)
            var batch = WriteBatch()
            batch.put(bytes("k\(index)"), bytes("v"))
            batch.delete(bytes("k\(index - 1)"))
            try state.apply(batch, through: AppliedPosition(index: index, term: 1))
            _ = try state.get(bytes("k\(index)"))
            _ = try state.scan(prefix: bytes("k"))
        }
        try round(1)
        let (logCount, stateCount) = (log.preparedStatements, state.preparedStatements)
        for index in stride(from: UInt64(3), through: 200, by: 2) { try round(index) }
        #expect(log.preparedStatements == logCount)
        #expect(state.preparedStatements == stateCount)
    }

    @Test("FULL commits sync once (twice when they start the WAL over); checkpoint mode syncs once per checkpoint")
    func syncCounting() throws {
        let dir = TestDirectory("sqlite-syncs")
        defer { dir.remove() }
        var log = try sqlite.openLogStore(options(dir.sub("log")))
        try log.append(entries(1...64, term: 1), hardState: HardState(term: 1, votedFor: 1, commit: 0))
        // Closing the last connection checkpoints and removes the WAL: the next commit starts a new one.
        try log.close()
        log = try sqlite.openLogStore(options(dir.sub("log")))
        var before = log.syncCount
        try log.append(entries(65...65, term: 1))
        #expect(log.syncCount == before + 2, "a commit that starts the WAL syncs its header and its frames")
        before = log.syncCount
        try log.saveHardState(HardState(term: 2, votedFor: nil, commit: 10))
        #expect(log.syncCount == before + 1, "the WAL goes on")
        try log.close()

        var batch = WriteBatch()
        for i in 0..<100 { batch.put(bytes("k\(i)"), bytes("v\(i)")) }
        let checkpointed = try sqlite.openStateStore(options(dir.sub("checkpointed"), stateSync: .checkpoint))
        before = checkpointed.syncCount
        for index in 1...10 {
            try checkpointed.apply(batch, through: AppliedPosition(index: UInt64(index), term: 1))
        }
        #expect(checkpointed.syncCount == before, "NORMAL commits do not sync")
        #expect(try checkpointed.checkpoint() == AppliedPosition(index: 10, term: 1))
        #expect(checkpointed.syncCount == before + 1, "one FULL commit")
        try checkpointed.checkpoint()
        #expect(checkpointed.syncCount == before + 1, "nothing new: no sync")
        var source = ArrayKeyValueSource([KeyValue(key: bytes("a"), value: bytes("b"))])
        try checkpointed.restore(from: &source, position: AppliedPosition(index: 11, term: 1))
        #expect(checkpointed.syncCount == before + 2, "a restore commits with FULL")
        try checkpointed.close()

        // SQLite's own checkpoints: with a 4-page threshold every few commits copy the WAL back (2 syncs each).
        let small = try sqlite.openLogStore(options(dir.sub("small"), settings: ["checkpoint_pages": "4"]))
        before = small.syncCount
        for index in UInt64(1)...20 { try small.append(entries(index...index, term: 1)) }
        #expect(small.syncCount > before + 20, "checkpoints add syncs: \(small.syncCount - before) for 20 commits")
        try small.close()
    }

    @Test("a snapshot stays at its read transaction while applies and SQLite checkpoints go on")
    func snapshotWhileWriting() throws {
        let dir = TestDirectory("sqlite-snapshot")
        defer { dir.remove() }
        let store = try sqlite.openStateStore(options(dir.path, settings: ["checkpoint_pages": "8"], stateSync: .checkpoint))
        var batch = WriteBatch()
        for i in 0..<500 { batch.put(bytes(String(format: "key-%04d", i)), bytes("value-\(i)")) }
        try store.apply(batch, through: AppliedPosition(index: 1, term: 1))
        let expected = try store.scan(.all)
        let snapshot = try store.snapshot()
        var seen = Array(try (0..<10).compactMap { _ in try snapshot.next() })
        for index in UInt64(2)...100 {
            var change = WriteBatch()
            change.put(bytes(String(format: "key-%04d", index)), bytes("changed"))
            change.delete(bytes(String(format: "key-%04d", index + 300)))
            try store.apply(change, through: AppliedPosition(index: index, term: 1))
            if index % 10 == 0 { try store.checkpoint() }
        }
        seen += try snapshot.readAll()
        #expect(snapshot.position == AppliedPosition(index: 1, term: 1))
        #expect(seen == expected)
        snapshot.close()
        try store.close()
        expectError(.closed) { _ = try store.snapshot() }
    }

    @Test("a damaged database file is .corrupted by SQLite")
    func corruption() throws {
        let dir = TestDirectory("sqlite-corrupt")
        defer { dir.remove() }
        do {
            let state = try sqlite.openStateStore(options(dir.sub("file")))
            try state.apply(WriteBatch([.put(key: bytes("k"), value: bytes("v"))]), through: AppliedPosition(index: 1, term: 1))
            try state.close()
        }
        let file = dir.sub("file/state.db")
        var contents = try #require(try FileSystem.readFile(file))
        for i in 0..<100 { contents[i] = 0xA5 }
        try FileSystem.writeFile(file, contents, sync: false)
        do {
            let state = try sqlite.openStateStore(options(dir.sub("file")))
            defer { try? state.close() }
            _ = try state.get(bytes("k"))
            Issue.record("a damaged database file was opened and read")
        } catch let StorageError.corrupted(path, _) {
            #expect(path.hasSuffix("state.db"))
        }
    }

}
