#if canImport(Glibc)
import Glibc
#endif
import CSQLite
import StorageCore
import Synchronization

/// What the sqlite log and state stores share: one database file in WAL
/// journal mode with its write connection, the directory lock, the sync rules
/// and their counting, SQLite's own checkpoints, and the snapshot readers.
///
/// # Where it syncs
/// SQLite appends each committed transaction to the `-wal` file.
/// - `synchronous=FULL` (sync on: every log store commit, and state applies
///   in `StateSyncMode.always`): the commit fdatasyncs the `-wal` file: 1
///   sync. The first commit after the WAL was checkpointed completely starts
///   the WAL over and also syncs its new header: 2.
/// - `synchronous=NORMAL` (state applies in checkpoint mode, and every commit
///   with sync off): the commit is written to the `-wal` without a sync;
///   SQLite's WAL frames carry cumulative checksums, so after a power cut it
///   recovers a prefix of whole transactions and the database is never
///   corrupt. A `durable` write (a state store checkpoint or restore) runs
///   its one transaction with FULL, whose fdatasync of the `-wal` makes every
///   earlier NORMAL commit durable too.
/// - SQLite checkpoints (copying the WAL back into the database file) run
///   here, passively, once the WAL holds `checkpointFrames` frames (SQLite's
///   default automatic checkpoint, made explicit to count it): with sync on
///   or NORMAL they fdatasync the `-wal` and then the database file: 2 syncs.
///
/// Not thread-safe: `@unchecked Sendable` because a store keeps it in its
/// locked state and calls it under that lock only (`readers` is safe alone).
final class SQLiteDatabase: @unchecked Sendable {
    enum Synchronous: String { case full = "FULL", normal = "NORMAL" }

    let path: String
    let directory: String
    let sync: Bool
    let synchronous: Synchronous
    let checkpointFrames: Int32
    let syncs: SyncCounter
    let connection: SQLiteConnection
    let readers: SQLiteReaders
    private let lock: StoreLock
    /// Set when a checkpoint copied the whole WAL: the next synced commit
    /// starts the WAL over and syncs its header as well.
    private var walRestartPending = false

    init(
        directory: String, fileName: String, schema: [String], sync: Bool, synchronous: Synchronous,
        settings: SQLiteSettings, syncs: SyncCounter
    ) throws {
        self.directory = directory
        self.sync = sync
        self.path = directory + "/" + fileName
        self.synchronous = synchronous
        self.checkpointFrames = settings.checkpointFrames
        self.syncs = syncs
        lock = try StoreLock(directory: directory, backend: SQLiteConnection.backend)
        do {
            connection = try SQLiteConnection(path: path)
        } catch {
            lock.release()
            throw error
        }
        readers = SQLiteReaders(path: path)
        do {
            guard try connection.text("PRAGMA journal_mode=WAL")?.lowercased() == "wal" else {
                throw StorageError.engine(backend: SQLiteConnection.backend, message: "\(path) refused WAL journal mode")
            }
            try connection.execute("PRAGMA synchronous=\(synchronous.rawValue)")
            try connection.execute("PRAGMA cache_size=-\(settings.cacheKiB)")
            try connection.recordWALLength()
            try connection.transaction { for statement in schema { try connection.execute(statement) } }
            // SQLite removes the WAL when its last connection closes; if the
            // schema found nothing to write, the first commit starts a new one.
            var info = stat()
            walRestartPending = stat(path + "-wal", &info) != 0 || info.st_size == 0
        } catch {
            connection.close()
            lock.release()
            throw error
        }
    }

    /// Runs `body` as one transaction. With `durable` and sync on, a NORMAL
    /// database commits this one transaction with FULL, which syncs it and
    /// every commit before it. Counts the syncs, and checkpoints when the WAL
    /// is long.
    func write<R>(durable: Bool = false, _ body: () throws -> R) throws -> R {
        let upgrade = durable && sync && synchronous == .normal
        if upgrade { try connection.execute("PRAGMA synchronous=FULL") }
        defer { if upgrade { try? connection.execute("PRAGMA synchronous=NORMAL") } }
        let result = try connection.transaction(body)
        if synchronous == .full || upgrade {
            syncs.record(walRestartPending ? 2 : 1)
            walRestartPending = false
        }
        if connection.walFrames >= checkpointFrames { try checkpoint() }
        return result
    }

    /// A passive SQLite checkpoint: what readers do not pin is copied into
    /// the database file (syncing the WAL first and the database after).
    func checkpoint() throws {
        let before = connection.walFrames
        let copied = try connection.checkpointWAL()
        guard copied > 0 else { return }
        syncs.record(2)
        if copied >= before { walRestartPending = true }
    }

    /// Ends the readers, closes the connection (SQLite then checkpoints and
    /// removes the `-wal` file, being its last connection) and the lock.
    func close() {
        readers.closeAll()
        connection.close()
        lock.release()
    }
}

/// The settings `SQLiteBackend` understands, parsed once at open.
struct SQLiteSettings: Sendable {
    var cacheKiB = 2_000
    var checkpointFrames: Int32 = 1_000
}

/// Snapshot readers: each its own connection holding a read transaction, so
/// it sees the database as of its start while the write connection goes on
/// (WAL mode lets readers and one writer run together). The store closes any
/// still open when it closes.
final class SQLiteReaders: Sendable {
    private let path: String
    private let table = Mutex(Table())

    private struct Table {
        var nextID = 0
        var open: [Int: Reader] = [:]
        var closed = false
    }

    /// A reader's connection and cursor; only touched under `table`.
    private struct Reader: @unchecked Sendable {
        let connection: SQLiteConnection
        let cursor: Statement
        var finished = false
    }

    init(path: String) { self.path = path }

    /// Opens a connection, starts a read transaction, runs `position` in it
    /// and prepares `query` as the reader's cursor over the same snapshot.
    func open(query: String, position: (SQLiteConnection) throws -> AppliedPosition) throws -> (Int, AppliedPosition) {
        let connection = try SQLiteConnection(path: path)
        do {
            try connection.execute("PRAGMA query_only=1")
            try connection.execute("BEGIN")
            let at = try position(connection)
            let cursor = try connection.cursor(query)
            let id = try table.withLock { table in
                guard !table.closed else { throw StorageError.closed }
                table.nextID += 1
                table.open[table.nextID] = Reader(connection: connection, cursor: cursor)
                return table.nextID
            }
            return (id, at)
        } catch {
            connection.close()
            throw error
        }
    }

    /// The next row of reader `id` as a pair (columns 0 and 1), nil at the end.
    func next(_ id: Int) throws -> KeyValue? {
        try table.withLock { table in
            guard var reader = table.open[id] else { throw StorageError.closed }
            guard !reader.finished else { return nil }
            guard try reader.cursor.step() else {
                reader.finished = true
                table.open[id] = reader
                return nil
            }
            return KeyValue(key: reader.cursor.bytes(0), value: reader.cursor.bytes(1))
        }
    }

    func close(_ id: Int) {
        let reader = table.withLock { $0.open.removeValue(forKey: id) }
        reader?.connection.close()
    }

    func closeAll() {
        let readers = table.withLock { table in
            table.closed = true
            defer { table.open.removeAll() }
            return Array(table.open.values)
        }
        for reader in readers { reader.connection.close() }
    }
}
