#if canImport(Glibc)
import Glibc
#endif
import CRocksDB
import StorageCore
import Synchronization

/// One RocksDB database (CURRENT, MANIFEST-*, OPTIONS-*, *.log, *.sst in a
/// store directory) with its column families, shared by a store and the
/// snapshots it hands out.
///
/// RocksDB is thread-safe itself; the locks here exist for close. `handles`
/// guards the database and column family pointers so no call can run into a
/// closed database: reads and writes take it shared (a read never waits for
/// a write's fsync), `close` exclusive; `readers` guards the iterators and snapshots behind
/// `StateSnapshot`s, which must all be released before `rocksdb_close`. A
/// snapshot takes only `readers`, so it can be read while the store holds
/// `handles`. Lock order: `handles`, then `readers`.
///
/// # Where it syncs
/// A `write` with sync on and `durable` is one `rocksdb_write` with sync=1:
/// RocksDB appends the batch to the WAL as one record and fdatasyncs it;
/// counted as 1. `syncWAL` is one `rocksdb_flush_wal(sync=1)`: an fdatasync
/// of the WAL, which makes every earlier write durable; counted as 1.
/// Background flushes and compactions sync their own files and are not
/// counted. With `sync` off, `close` syncs the WAL once (counted).
final class RocksDBDatabase: Sendable {
    /// A column family of this database, by its position in the open call.
    struct Family: Sendable, Hashable {
        fileprivate let index: Int
    }

    let directory: String
    let sync: Bool
    let syncs = SyncCounter()
    private let handles: ReadWriteLock<Handles?>
    private let readers = Mutex(ReaderTable())

    /// The C handles of the open database. `@unchecked Sendable` because the
    /// region checker merges them with whatever else a C call receives and
    /// then rejects the lock; they are only ever read under `handles`, and
    /// `rocksdb_t` itself is thread-safe.
    private struct Handles: @unchecked Sendable {
        let db: OpaquePointer
        let options: OpaquePointer
        let tableOptions: OpaquePointer
        let cache: OpaquePointer
        /// Index 0 is "default", which RocksDB always has; ours follow.
        let families: [OpaquePointer]
        let readOptions: OpaquePointer
        let syncedWrite: OpaquePointer
        let unsyncedWrite: OpaquePointer
    }

    /// The C handles of one snapshot, moved into the reader table once made;
    /// from then on only code holding `readers` touches them.
    private struct Reader: @unchecked Sendable {
        let db: OpaquePointer
        let snapshot: OpaquePointer
        let readOptions: OpaquePointer
        let iterator: RocksDBIterator
        /// Exclusive end of the key range the snapshot returns.
        let end: Bytes
        var started = false
        var finished = false

        func release() {
            iterator.destroy()
            rocksdb_readoptions_destroy(readOptions)
            rocksdb_release_snapshot(db, snapshot)
        }
    }

    private struct ReaderTable {
        var nextID = 0
        var open: [Int: Reader] = [:]
    }

    /// Opens (creating when missing) the database with `families`, returned
    /// in the same order. `recovery` is RocksDB's WAL recovery mode.
    init(directory: String, sync: Bool, settings: RocksDBSettings, families names: [String], recovery: Int32) throws {
        self.directory = directory
        self.sync = sync
        let options: OpaquePointer = rocksdb_options_create()
        rocksdb_options_set_create_if_missing(options, 1)
        rocksdb_options_set_create_missing_column_families(options, 1)
        rocksdb_options_set_paranoid_checks(options, 1)
        rocksdb_options_set_wal_recovery_mode(options, recovery)
        rocksdb_options_set_compression(options, settings.compression)
        if let size = settings.writeBufferSize { rocksdb_options_set_write_buffer_size(options, size) }
        // RocksDB's LOG file: warnings and errors only, two files kept.
        rocksdb_options_set_info_log_level(options, 2)
        rocksdb_options_set_keep_log_file_num(options, 2)
        let cache: OpaquePointer = rocksdb_cache_create_lru(settings.blockCacheSize)
        let tableOptions: OpaquePointer = rocksdb_block_based_options_create()
        rocksdb_block_based_options_set_block_cache(tableOptions, cache)
        rocksdb_options_set_block_based_table_factory(options, tableOptions)

        let allNames = ["default"] + names
        var cNames = allNames.map { strdup($0) }
        defer { for name in cNames { free(name) } }
        var cOptions = [OpaquePointer?](repeating: options, count: allNames.count)
        var cHandles = [OpaquePointer?](repeating: nil, count: allNames.count)
        let opened: OpaquePointer?
        do {
            opened = try cNames.withUnsafeMutableBufferPointer { namesBuffer in
                try namesBuffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { names in
                    try RocksDBError.call("open \(directory)", directory: directory) {
                        rocksdb_open_column_families(
                            options, directory, Int32(allNames.count), names.baseAddress, &cOptions, &cHandles, $0)
                    }
                }
            }
        } catch {
            rocksdb_options_destroy(options)
            rocksdb_block_based_options_destroy(tableOptions)
            rocksdb_cache_destroy(cache)
            throw error
        }
        guard let db = opened else {
            rocksdb_options_destroy(options)
            rocksdb_block_based_options_destroy(tableOptions)
            rocksdb_cache_destroy(cache)
            throw StorageError.engine(backend: RocksDBError.backend, message: "rocksdb_open returned no database")
        }
        let readOptions: OpaquePointer = rocksdb_readoptions_create()
        rocksdb_readoptions_set_verify_checksums(readOptions, 1)
        let syncedWrite: OpaquePointer = rocksdb_writeoptions_create()
        rocksdb_writeoptions_set_sync(syncedWrite, sync ? 1 : 0)
        let unsyncedWrite: OpaquePointer = rocksdb_writeoptions_create()
        rocksdb_writeoptions_set_sync(unsyncedWrite, 0)
        handles = ReadWriteLock(Handles(
            db: db, options: options, tableOptions: tableOptions, cache: cache, families: cHandles.map { $0! },
            readOptions: readOptions, syncedWrite: syncedWrite, unsyncedWrite: unsyncedWrite))
        // The files RocksDB just created must be reachable after power loss.
        if sync {
            do {
                try FileSystem.syncDirectory(directory, counter: syncs)
            } catch {
                try? close()
                throw error
            }
        }
    }

    /// The column families named at open, in that order.
    static func families(_ count: Int) -> [Family] { (1...count).map(Family.init) }

    func get(_ family: Family, _ key: Bytes) throws -> Bytes? {
        try handles.withShared { handles in
            guard let handles else { throw StorageError.closed }
            return try RocksDBDatabase.get(key, handles.db, handles.readOptions, handles.families[family.index], directory: directory)
        }
    }

    private static func get(
        _ key: Bytes, _ db: OpaquePointer, _ readOptions: OpaquePointer, _ family: OpaquePointer, directory: String
    ) throws -> Bytes? {
        var length = 0
        let value = try withChars(key) { chars, count in
            try RocksDBError.call("get", directory: directory) {
                rocksdb_get_cf(db, readOptions, family, chars, count, &length, $0)
            }
        }
        guard let value else { return nil }
        // rocksdb_get_cf hands over a malloc'd copy.
        defer { rocksdb_free(value) }
        return copyBytes(value, length)
    }

    /// Builds one WriteBatch with `build` and writes it atomically; with sync
    /// on (and `durable`) it is durable on return. A write that is not durable
    /// still reaches the WAL file before the call returns, so it survives
    /// SIGKILL; after power loss RocksDB recovers a prefix of the writes.
    func write(durable: Bool = true, _ build: (RocksDBBatch) throws -> Void) throws {
        try handles.withShared { handles in
            guard let handles else { throw StorageError.closed }
            let batch = RocksDBBatch(families: handles.families)
            try build(batch)
            guard batch.count > 0 else { return }
            let synced = sync && durable
            try RocksDBError.call("write", directory: directory) {
                rocksdb_write(handles.db, synced ? handles.syncedWrite : handles.unsyncedWrite, batch.pointer, $0)
            }
            if synced { syncs.record() }
        }
    }

    /// Makes every write so far durable: one fdatasync of the WAL.
    func syncWAL() throws {
        try handles.withShared { handles in
            guard let handles else { throw StorageError.closed }
            try RocksDBError.call("flush_wal", directory: directory) { rocksdb_flush_wal(handles.db, 1, $0) }
            syncs.record()
        }
    }

    /// Visits pairs of `family` from the first key at or after `start` while
    /// `visit` returns true.
    func scan(_ family: Family, from start: Bytes, _ visit: (KeyValue) throws -> Bool) throws {
        try handles.withShared { handles in
            guard let handles else { throw StorageError.closed }
            let iterator = RocksDBIterator(
                db: handles.db, readOptions: handles.readOptions, family: handles.families[family.index], directory: directory)
            defer { iterator.destroy() }
            iterator.seek(start)
            while let pair = try iterator.current(), try visit(pair) { iterator.next() }
        }
    }

    /// The last pair of `family`, nil when it is empty.
    func last(_ family: Family) throws -> KeyValue? {
        try handles.withShared { handles in
            guard let handles else { throw StorageError.closed }
            let iterator = RocksDBIterator(
                db: handles.db, readOptions: handles.readOptions, family: handles.families[family.index], directory: directory)
            defer { iterator.destroy() }
            iterator.seekToLast()
            return try iterator.current()
        }
    }

    /// Takes a RocksDB snapshot, reads `keys` from it, and opens an iterator
    /// over `family` reading the same snapshot, over the range that `range`
    /// computes from the values read, so the range, the values and the pairs
    /// always agree.
    func openReader(
        _ family: Family, reading keys: [(Family, Bytes)], range: ([Bytes?]) throws -> (from: Bytes, to: Bytes)
    ) throws -> (reader: Int, values: [Bytes?]) {
        try handles.withShared { handles in
            guard let handles else { throw StorageError.closed }
            let snapshot: OpaquePointer = rocksdb_create_snapshot(handles.db)
            let readOptions: OpaquePointer = rocksdb_readoptions_create()
            rocksdb_readoptions_set_verify_checksums(readOptions, 1)
            rocksdb_readoptions_set_snapshot(readOptions, snapshot)
            let values: [Bytes?]
            let bounds: (from: Bytes, to: Bytes)
            do {
                values = try keys.map { family, key in
                    try RocksDBDatabase.get(key, handles.db, readOptions, handles.families[family.index], directory: directory)
                }
                bounds = try range(values)
            } catch {
                rocksdb_readoptions_destroy(readOptions)
                rocksdb_release_snapshot(handles.db, snapshot)
                throw error
            }
            let iterator = RocksDBIterator(
                db: handles.db, readOptions: readOptions, family: handles.families[family.index], directory: directory)
            iterator.seek(bounds.from)
            let reader = Reader(db: handles.db, snapshot: snapshot, readOptions: readOptions, iterator: iterator, end: bounds.to)
            let id = readers.withLock { table in
                table.nextID += 1
                table.open[table.nextID] = reader
                return table.nextID
            }
            return (id, values)
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

    /// Releases open readers first (RocksDB requires it before close), syncs
    /// the WAL when writes were not synced, and closes. Closing twice is harmless.
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
                do {
                    try RocksDBError.call("flush_wal", directory: directory) { rocksdb_flush_wal(open.db, 1, $0) }
                    syncs.record()
                } catch {
                    flushError = error
                }
            }
            for family in open.families { rocksdb_column_family_handle_destroy(family) }
            rocksdb_close(open.db)
            rocksdb_options_destroy(open.options)
            rocksdb_block_based_options_destroy(open.tableOptions)
            rocksdb_cache_destroy(open.cache)
            rocksdb_readoptions_destroy(open.readOptions)
            rocksdb_writeoptions_destroy(open.syncedWrite)
            rocksdb_writeoptions_destroy(open.unsyncedWrite)
            if let flushError { throw flushError }
        }
    }
}

/// A RocksDB WriteBatch being built inside `RocksDBDatabase.write`, where the
/// column family handles it names are valid.
final class RocksDBBatch {
    let pointer: OpaquePointer
    private let families: [OpaquePointer]
    /// The C API's count misses nothing, but an empty batch is not written at all.
    private(set) var count = 0

    fileprivate init(families: [OpaquePointer]) {
        pointer = rocksdb_writebatch_create()
        self.families = families
    }

    deinit { rocksdb_writebatch_destroy(pointer) }

    func put(_ family: RocksDBDatabase.Family, _ key: Bytes, _ value: Bytes) {
        withChars(key) { keyChars, keyCount in
            withChars(value) { valueChars, valueCount in
                rocksdb_writebatch_put_cf(pointer, families[family.index], keyChars, keyCount, valueChars, valueCount)
            }
        }
        count += 1
    }

    func delete(_ family: RocksDBDatabase.Family, _ key: Bytes) {
        withChars(key) { chars, length in rocksdb_writebatch_delete_cf(pointer, families[family.index], chars, length) }
        count += 1
    }

    /// Deletes every key in `start ..< end` with one range tombstone.
    func deleteRange(_ family: RocksDBDatabase.Family, from start: Bytes, to end: Bytes) {
        withChars(start) { startChars, startCount in
            withChars(end) { endChars, endCount in
                rocksdb_writebatch_delete_range_cf(
                    pointer, families[family.index], startChars, startCount, endChars, endCount)
            }
        }
        count += 1
    }
}

/// A RocksDB iterator over one column family. Not a class with a deinit on
/// purpose: an iterator must be destroyed before its database closes, so its
/// owner ends it explicitly with `destroy()` at a point it controls.
struct RocksDBIterator {
    let pointer: OpaquePointer
    let directory: String

    init(db: OpaquePointer, readOptions: OpaquePointer, family: OpaquePointer, directory: String) {
        pointer = rocksdb_create_iterator_cf(db, readOptions, family)
        self.directory = directory
    }

    func destroy() { rocksdb_iter_destroy(pointer) }

    func seek(_ key: Bytes) {
        withChars(key) { chars, count in rocksdb_iter_seek(pointer, chars, count) }
    }

    func seekToLast() { rocksdb_iter_seek_to_last(pointer) }
    func next() { rocksdb_iter_next(pointer) }

    /// The pair under the iterator, nil past either end. An iterator that
    /// stopped because of an error (a bad block) throws instead of looking
    /// like the end of the data.
    func current() throws -> KeyValue? {
        guard rocksdb_iter_valid(pointer) != 0 else {
            try RocksDBError.call("iterate", directory: directory) { rocksdb_iter_get_error(pointer, $0) }
            return nil
        }
        var keyCount = 0
        var valueCount = 0
        let key = rocksdb_iter_key(pointer, &keyCount)
        let value = rocksdb_iter_value(pointer, &valueCount)
        return KeyValue(key: copyBytes(key, keyCount), value: copyBytes(value, valueCount))
    }
}

/// RocksDB's errors come back through a `char** errptr` (see `CErrorOutPointer`).
enum RocksDBError: CErrorOutPointer {
    static let backend = "rocksdb"
    static func free(_ message: UnsafeMutablePointer<CChar>) { rocksdb_free(message) }
}
