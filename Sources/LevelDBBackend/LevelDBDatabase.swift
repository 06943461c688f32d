import CLevelDB
import StorageCore
import Synchronization

/// One LevelDB database (CURRENT, MANIFEST-*, *.log, *.ldb in a store
/// directory), shared by a store and the snapshots it hands out.
///
/// LevelDB is thread-safe itself; the locks here exist for close. `handles`
/// guards the database pointer so no call can run into a closed database:
/// reads and writes take it shared (a read never waits for a write's
/// fsync), `close` exclusive;
/// `readers` guards the iterators and snapshots behind `StateSnapshot`s, which
/// must all be released before `leveldb_close`. A snapshot takes only
/// `readers`, so it can be read while the store holds `handles`, even from
/// inside a store call, as when a store is restored from its own snapshot.
/// Lock order: `handles`, then `readers`.
///
/// # Where it syncs
/// With `sync` on, every `write` is one `leveldb_write` with sync=1: LevelDB
/// appends the batch as one record to the current .log file and fdatasyncs it
/// before returning; counted as 1 sync. LevelDB's background work (flushing the
/// memtable to a new .ldb table, compactions, MANIFEST updates) syncs its own
/// files off the write path and is not counted. With `sync` off, LevelDB still
/// write()s each record to the .log file before returning, so a write survives
/// SIGKILL but not power loss; `close` then flushes with one counted synced write.
final class LevelDBDatabase: Sendable {
    let directory: String
    let sync: Bool
    let syncs = SyncCounter()
    private let handles: ReadWriteLock<Handles?>
    private let readers = Mutex(ReaderTable())

    /// The C handles of the open database. `@unchecked Sendable` because the
    /// region checker merges them with whatever else a C call receives (a
    /// batch, a key) and then rejects the lock; they are only ever read under
    /// `handles`, and `leveldb_t` itself is thread-safe.
    private struct Handles: @unchecked Sendable {
        let db: OpaquePointer
        let options: OpaquePointer
        let readOptions: OpaquePointer
        let writeOptions: OpaquePointer
        let unsyncedWriteOptions: OpaquePointer
    }

    /// The C handles of one snapshot. `@unchecked Sendable` because they are
    /// created under `handles` and then moved into the table, which the region
    /// checker cannot follow; from then on only code holding `readers` touches
    /// them.
    private struct Reader: @unchecked Sendable {
        let db: OpaquePointer
        let snapshot: OpaquePointer
        let readOptions: OpaquePointer
        let iterator: LevelDBIterator
        /// Exclusive end of the key range the snapshot returns.
        let end: Bytes
        var started = false
        var finished = false

        func release() {
            iterator.destroy()
            leveldb_readoptions_destroy(readOptions)
            leveldb_release_snapshot(db, snapshot)
        }
    }

    private struct ReaderTable {
        var nextID = 0
        var open: [Int: Reader] = [:]
    }

    init(directory: String, sync: Bool, settings: LevelDBSettings) throws {
        self.directory = directory
        self.sync = sync
        let options: OpaquePointer = leveldb_options_create()
        leveldb_options_set_create_if_missing(options, 1)
        // Refuse to open over a corrupted record instead of silently skipping
        // it; a record torn at the end of the .log by a crash is still fine.
        leveldb_options_set_paranoid_checks(options, 1)
        leveldb_options_set_compression(
            options, settings.compression ? Int32(leveldb_snappy_compression) : Int32(leveldb_no_compression))
        if let size = settings.writeBufferSize { leveldb_options_set_write_buffer_size(options, size) }
        let opened: OpaquePointer?
        do {
            opened = try LevelDBError.call("open \(directory)", directory: directory) {
                leveldb_open(options, directory, $0)
            }
        } catch {
            leveldb_options_destroy(options)
            throw error
        }
        guard let db = opened else {
            leveldb_options_destroy(options)
            throw StorageError.engine(backend: LevelDBError.backend, message: "leveldb_open returned no database")
        }
        let readOptions: OpaquePointer = leveldb_readoptions_create()
        leveldb_readoptions_set_verify_checksums(readOptions, 1)
        let writeOptions: OpaquePointer = leveldb_writeoptions_create()
        leveldb_writeoptions_set_sync(writeOptions, sync ? 1 : 0)
        let unsyncedWriteOptions: OpaquePointer = leveldb_writeoptions_create()
        leveldb_writeoptions_set_sync(unsyncedWriteOptions, 0)
        handles = ReadWriteLock(Handles(
            db: db, options: options, readOptions: readOptions, writeOptions: writeOptions,
            unsyncedWriteOptions: unsyncedWriteOptions))
        // The files LevelDB just created must be reachable after power loss.
        if sync {
            do {
                try FileSystem.syncDirectory(directory, counter: syncs)
            } catch {
                try? close()
                throw error
            }
        }
    }

    func get(_ key: Bytes) throws -> Bytes? {
        try handles.withShared { handles in
            guard let handles else { throw StorageError.closed }
            return try LevelDBDatabase.get(key, handles.db, handles.readOptions, directory: directory)
        }
    }

    private static func get(
        _ key: Bytes, _ db: OpaquePointer, _ readOptions: OpaquePointer, directory: String
    ) throws -> Bytes? {
        var length = 0
        let value = try withChars(key) { chars, count in
            try LevelDBError.call("get", directory: directory) {
                leveldb_get(db, readOptions, chars, count, &length, $0)
            }
        }
        guard let value else { return nil }
        // leveldb_get hands over a malloc'd copy.
        defer { leveldb_free(value) }
        return copyBytes(value, length)
    }

    /// Writes `batch` atomically; with sync on (and `durable`) it is durable
    /// on return. A write that is not durable still reaches the .log file
    /// before the call returns, so it survives SIGKILL; after power loss
    /// LevelDB recovers a prefix of the writes, cutting a torn last record.
    func write(_ batch: LevelDBBatch, durable: Bool = true) throws {
        guard batch.count > 0 else { return }
        try handles.withShared { handles in
            guard let handles else { throw StorageError.closed }
            let synced = sync && durable
            try LevelDBError.call("write", directory: directory) {
                leveldb_write(handles.db, synced ? handles.writeOptions : handles.unsyncedWriteOptions, batch.pointer, $0)
            }
            if synced { syncs.record() }
        }
    }

    /// Visits pairs from the first key at or after `start` while `visit`
    /// returns true.
    func scan(from start: Bytes, _ visit: (KeyValue) throws -> Bool) throws {
        try handles.withShared { handles in
            guard let handles else { throw StorageError.closed }
            let iterator = LevelDBIterator(db: handles.db, readOptions: handles.readOptions, directory: directory)
            defer { iterator.destroy() }
            iterator.seek(start)
            while let pair = try iterator.current(), try visit(pair) { iterator.next() }
        }
    }

    /// The last pair whose key sorts before `bound`.
    func last(before bound: Bytes) throws -> KeyValue? {
        try handles.withShared { handles in
            guard let handles else { throw StorageError.closed }
            let iterator = LevelDBIterator(db: handles.db, readOptions: handles.readOptions, directory: directory)
            defer { iterator.destroy() }
            iterator.seek(bound)
            if try iterator.current() != nil { iterator.previous() } else { iterator.seekToLast() }
            return try iterator.current()
        }
    }

    /// Takes a LevelDB snapshot and an iterator over `start..<end` reading it,
    /// and reads `key` (the applied position) from the same snapshot so the
    /// position and the pairs always agree.
    func openReader(from start: Bytes, to end: Bytes, reading key: Bytes) throws -> (reader: Int, value: Bytes?) {
        try handles.withShared { handles in
            guard let handles else { throw StorageError.closed }
            let snapshot: OpaquePointer = leveldb_create_snapshot(handles.db)
            let readOptions: OpaquePointer = leveldb_readoptions_create()
            leveldb_readoptions_set_verify_checksums(readOptions, 1)
            leveldb_readoptions_set_snapshot(readOptions, snapshot)
            let value: Bytes?
            do {
                value = try LevelDBDatabase.get(key, handles.db, readOptions, directory: directory)
            } catch {
                leveldb_readoptions_destroy(readOptions)
                leveldb_release_snapshot(handles.db, snapshot)
                throw error
            }
            let iterator = LevelDBIterator(db: handles.db, readOptions: readOptions, directory: directory)
            iterator.seek(start)
            let reader = Reader(db: handles.db, snapshot: snapshot, readOptions: readOptions, iterator: iterator, end: end)
            let id = readers.withLock { table in
                table.nextID += 1
                table.open[table.nextID] = reader
                return table.nextID
            }
            return (id, value)
        }
    }

    /// The reader's next pair, or nil past its end. Throws `.closed` once the
    /// reader or the database was closed.
    func next(reader id: Int) throws -> KeyValue? {
        try readers.withLock { table in
            guard var reader = table.open[id] else { throw StorageError.closed }
            guard !reader.finished else { return nil }
            if reader.started { reader.iterator.next() }
            reader.started = true
            let pair = try reader.iterator.current()
            if pair.map({ !$0.key.sortsBefore(reader.end) }) ?? true { reader.finished = true }
            table.open[id] = reader
            return reader.finished ? nil : pair
        }
    }

    /// Releases a reader's iterator and snapshot; closing one twice is harmless.
    func closeReader(_ id: Int) {
        readers.withLock { table in table.open.removeValue(forKey: id)?.release() }
    }

    /// Releases open readers first (LevelDB requires it before close), flushes
    /// when writes were not synced, and closes. Closing twice is harmless.
    func close() throws {
        try handles.withExclusive { handles in
            guard let open = handles else { return }
            readers.withLock { table in
                for reader in table.open.values { reader.release() }
                table.open.removeAll()
            }
            handles = nil
            var flushError: Error?
            if !sync {
                // An empty synced batch still syncs the .log file.
                let flush: OpaquePointer = leveldb_writeoptions_create()
                leveldb_writeoptions_set_sync(flush, 1)
                let empty = LevelDBBatch()
                do {
                    try LevelDBError.call("flush", directory: directory) {
                        leveldb_write(open.db, flush, empty.pointer, $0)
                    }
                    syncs.record()
                } catch {
                    flushError = error
                }
                leveldb_writeoptions_destroy(flush)
            }
            leveldb_close(open.db)
            leveldb_options_destroy(open.options)
            leveldb_readoptions_destroy(open.readOptions)
            leveldb_writeoptions_destroy(open.writeOptions)
            leveldb_writeoptions_destroy(open.unsyncedWriteOptions)
            if let flushError { throw flushError }
        }
    }
}

/// The settings `LevelDBBackend` understands, parsed once at open.
struct LevelDBSettings: Sendable {
    var writeBufferSize: Int?
    var compression = true
}

/// LevelDB's errors come back through a `char** errptr` (see `CErrorOutPointer`).
enum LevelDBError: CErrorOutPointer {
    static let backend = "leveldb"
    static func free(_ message: UnsafeMutablePointer<CChar>) { leveldb_free(message) }
}
