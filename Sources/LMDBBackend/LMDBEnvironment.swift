import CLMDB
import StorageCore
import Synchronization

/// One LMDB environment (data.mdb and lock.mdb in a store directory), shared
/// by a store and the snapshots it hands out.
///
/// Three locks, because reads must not wait for a write's fsync: `handle`
/// guards the environment pointer against close (transactions take it
/// shared, `close` exclusive); `writer` serialises write transactions (LMDB
/// has one writer at a time; read transactions run beside it, as LMDB
/// intends); `readers` guards the long-lived read transactions behind
/// snapshots. A snapshot takes only `readers`, so it can be read during a
/// write transaction, even from inside one, as when a store is restored from
/// its own snapshot. Lock order: `writer`, `handle`, then `readers`. The environment is opened with
/// MDB_NOTLS because Swift code hops threads and LMDB would otherwise tie
/// each read transaction to the thread that began it.
///
/// # Where it syncs
/// With `sync` on, each commit that changed something does an fdatasync of
/// data.mdb (the new pages) and then writes the meta page through a second
/// descriptor opened with O_DSYNC (measured with strace on LMDB 0.9.24). Both
/// are counted, so a synced commit adds 2 to `syncs`. A commit without changes
/// syncs nothing and counts nothing. With `sync` off the environment is opened
/// with MDB_NOSYNC: commits still write their pages into the OS page cache, so
/// they survive SIGKILL of the process, but not power loss, which may drop
/// the latest commits (LMDB documents that it can even corrupt the database,
/// so sync off is for data that can be rebuilt); `close` then flushes with one
/// counted mdb_env_sync.
final class LMDBEnvironment: Sendable {
    let directory: String
    let sync: Bool
    let syncs = SyncCounter()
    /// Longest key LMDB accepts (511 bytes unless built otherwise).
    let maxKeySize: Int
    private let handle: ReadWriteLock<OpaquePointer?>
    private let writer = Mutex(())
    private let readers = Mutex(ReaderTable())

    /// The C handles of one snapshot. `@unchecked Sendable` because they are
    /// created under `handle` and then moved into the table, which the region
    /// checker cannot follow; from then on only code holding `readers` touches
    /// them, and MDB_NOTLS allows using them from any thread. `env` is only
    /// read for error messages; `close` ends every reader before the environment.
    private struct Reader: @unchecked Sendable {
        let txn: OpaquePointer
        let env: OpaquePointer
        let database: MDB_dbi
    }

    private struct ReaderTable {
        var nextID = 0
        var open: [Int: Reader] = [:]
    }

    init(directory: String, mapSize: Int, sync: Bool, maxDatabases: UInt32) throws {
        self.directory = directory
        self.sync = sync
        var created: OpaquePointer?
        try LMDBError.check(mdb_env_create(&created), "mdb_env_create", env: nil)
        guard let env = created else {
            throw StorageError.engine(backend: LMDBError.backend, message: "mdb_env_create returned no environment")
        }
        do {
            // The map size must be set before mdb_env_open; it only reserves
            // address space, the file grows as data is written.
            try LMDBError.check(mdb_env_set_mapsize(env, mapSize), "mdb_env_set_mapsize", env: env)
            try LMDBError.check(mdb_env_set_maxdbs(env, maxDatabases), "mdb_env_set_maxdbs", env: env)
            let flags = UInt32(MDB_NOTLS) | (sync ? 0 : UInt32(MDB_NOSYNC))
            try LMDBError.check(mdb_env_open(env, directory, flags, 0o644), "mdb_env_open \(directory)", env: env)
            // A process killed with a snapshot open leaves a stale reader slot
            // that would pin old pages forever; clear such slots now.
            var dead: Int32 = 0
            try LMDBError.check(mdb_reader_check(env, &dead), "mdb_reader_check", env: env)
            // data.mdb and lock.mdb may have just been created: make their
            // directory entries durable too.
            if sync { try FileSystem.syncDirectory(directory, counter: syncs) }
            maxKeySize = Int(mdb_env_get_maxkeysize(env))
        } catch {
            mdb_env_close(env)
            throw error
        }
        handle = ReadWriteLock(env)
    }

    /// Runs `body` in a write transaction and commits it; any error aborts it.
    func write<R: Sendable>(_ body: (LMDBTransaction) throws -> R) throws -> R {
        try writer.withLock { _ in try handle.withShared { env in
            guard let env else { throw StorageError.closed }
            var begun: OpaquePointer?
            try LMDBError.check(mdb_txn_begin(env, nil, 0, &begun), "mdb_txn_begin", env: env)
            guard let pointer = begun else {
                throw StorageError.engine(backend: LMDBError.backend, message: "mdb_txn_begin returned no transaction")
            }
            let txn = LMDBTransaction(pointer, env: env)
            let result: R
            do {
                result = try body(txn)
            } catch {
                mdb_txn_abort(pointer)
                throw error
            }
            // mdb_txn_commit frees the transaction even when it fails.
            try LMDBError.check(mdb_txn_commit(pointer), "mdb_txn_commit", env: env)
            if sync && txn.wrote { syncs.record(2) }
            return result
        } }
    }

    /// Runs `body` in a short read-only transaction.
    func read<R: Sendable>(_ body: (LMDBTransaction) throws -> R) throws -> R {
        try handle.withShared { env in
            guard let env else { throw StorageError.closed }
            let pointer = try LMDBEnvironment.beginRead(env)
            defer { mdb_txn_abort(pointer) }
            return try body(LMDBTransaction(pointer, env: env))
        }
    }

    /// Begins a read transaction that outlives this call, for a snapshot:
    /// `prepare` reads what must come from the same view (the applied
    /// position, which database holds the data); that database is kept with
    /// the transaction for `withReader`.
    func openReader<R: Sendable>(
        _ prepare: (LMDBTransaction) throws -> (prepared: R, database: MDB_dbi)
    ) throws -> (reader: Int, prepared: R) {
        try handle.withShared { env in
            guard let env else { throw StorageError.closed }
            let pointer = try LMDBEnvironment.beginRead(env)
            let prepared: R
            let database: MDB_dbi
            do {
                (prepared, database) = try prepare(LMDBTransaction(pointer, env: env))
            } catch {
                mdb_txn_abort(pointer)
                throw error
            }
            let id = readers.withLock { table in
                table.nextID += 1
                table.open[table.nextID] = Reader(txn: pointer, env: env, database: database)
                return table.nextID
            }
            return (id, prepared)
        }
    }

    /// Runs `body` in a reader's transaction, with the database it was opened
    /// on. Throws `.closed` once the reader or the environment was closed.
    /// Holds `readers` throughout, so `body` must not begin a write.
    func withReader<R: Sendable>(_ id: Int, _ body: (LMDBTransaction, MDB_dbi) throws -> R) throws -> R {
        try readers.withLock { table in
            guard let reader = table.open[id] else { throw StorageError.closed }
            return try body(LMDBTransaction(reader.txn, env: reader.env), reader.database)
        }
    }

    /// Ends a reader's transaction; closing one twice is harmless.
    func closeReader(_ id: Int) {
        readers.withLock { table in
            guard let reader = table.open.removeValue(forKey: id) else { return }
            mdb_txn_abort(reader.txn)
        }
    }

    /// Ends open readers first (LMDB requires every transaction to be gone
    /// before mdb_env_close), flushes when commits were not synced, and
    /// closes the files. Later calls throw `.closed`; closing twice is harmless.
    func close() throws {
        try writer.withLock { _ in try handle.withExclusive { env in
            guard let open = env else { return }
            readers.withLock { table in
                for reader in table.open.values { mdb_txn_abort(reader.txn) }
                table.open.removeAll()
            }
            env = nil
            var flushError: StorageError?
            if !sync {
                let rc = mdb_env_sync(open, 1)
                if rc == 0 { syncs.record() } else { flushError = LMDBError.error(rc, "mdb_env_sync", env: open) }
            }
            mdb_env_close(open)
            if let flushError { throw flushError }
        } }
    }

    private static func beginRead(_ env: OpaquePointer) throws -> OpaquePointer {
        var begun: OpaquePointer?
        try LMDBError.check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &begun), "mdb_txn_begin", env: env)
        guard let pointer = begun else {
            throw StorageError.engine(backend: LMDBError.backend, message: "mdb_txn_begin returned no transaction")
        }
        return pointer
    }
}
