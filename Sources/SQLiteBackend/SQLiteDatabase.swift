#if canImport(Glibc)
import Glibc
#endif
import CSQLite
import StorageCore
import Synchronization

/// What the sqlite log and state stores share: one database file in WAL
/// journal mode with a write connection and a read connection, the directory
/// lock, the sync rules and their counting, SQLite's own checkpoints, and the
/// snapshot readers.
///
/// Reads go through their own connection: in WAL mode a reader never waits
/// for the writer, so a read is never stuck behind a commit's fsync. Each
/// read statement starts a fresh read transaction and sees every commit that
/// returned before it.
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
final class SQLiteDatabase: Sendable {
    enum Synchronous: String, Sendable { case full = "FULL", normal = "NORMAL" }

    /// The write connection and what only the writer touches.
    private struct WriteSide: @unchecked Sendable {
        let connection: SQLiteConnection
        /// Set when a checkpoint copied the whole WAL: the next synced
        /// commit starts the WAL over and syncs its header as well.
        var walRestartPending: Bool
    }

    /// A connection touched only under its lock. `@unchecked Sendable`: the
    /// region checker cannot see through the lock.
    private struct Guarded: @unchecked Sendable {
        let connection: SQLiteConnection
    }

    let path: String
    let directory: String
    let sync: Bool
    let synchronous: Synchronous
    let checkpointFrames: Int32
    let syncs: SyncCounter
    let readers: SQLiteReaders
    private let lock: StoreLock
    /// nil once closed.
    private let writeSide: Mutex<WriteSide?>
    private let readSide: Mutex<Guarded?>

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
        let path = self.path
        let lock = try StoreLock(directory: directory, backend: SQLiteConnection.backend)
        self.lock = lock
        readers = SQLiteReaders(path: path)
        var opened: [SQLiteConnection] = []
        do {
            let connection = try SQLiteConnection(path: path)
            opened.append(connection)
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
            let fresh = stat(path + "-wal", &info) != 0 || info.st_size == 0
            let reader = try SQLiteConnection(path: path)
            opened.append(reader)
            try reader.execute("PRAGMA query_only=1")
            try reader.execute("PRAGMA cache_size=-\(settings.cacheKiB)")
            writeSide = Mutex(WriteSide(connection: connection, walRestartPending: fresh))
            readSide = Mutex(Guarded(connection: reader))
        } catch {
            for connection in opened { connection.close() }
            lock.release()
            throw error
        }
    }

    /// Runs `body` with the read connection.
    func read<R>(_ body: (SQLiteConnection) throws -> R) throws -> R {
        try readSide.withLock { side in
            guard let side else { throw StorageError.closed }
            return try body(side.connection)
        }
    }

    /// Runs `body` as one transaction on the write connection. With `durable`
    /// and sync on, a NORMAL database commits this one transaction with FULL,
    /// which syncs it and every commit before it. Counts the syncs, and
    /// checkpoints when the WAL is long.
    func write<R: Sendable>(durable: Bool = false, _ body: (SQLiteConnection) throws -> R) throws -> R {
        try writeSide.withLock { side in
            guard let current = side else { throw StorageError.closed }
            let connection = current.connection
            let upgrade = durable && sync && synchronous == .normal
            if upgrade { try connection.execute("PRAGMA synchronous=FULL") }
            defer { if upgrade { try? connection.execute("PRAGMA synchronous=NORMAL") } }
            let result = try connection.transaction { try body(connection) }
            if synchronous == .full || upgrade {
                syncs.record(current.walRestartPending ? 2 : 1)
                side?.walRestartPending = false
            }
            if connection.walFrames >= checkpointFrames, try checkpoint(connection) {
                side?.walRestartPending = true
            }
            return result
        }
    }

    /// A passive SQLite checkpoint: what readers do not pin is copied into
    /// the database file (syncing the WAL first and the database after).
    /// True when it copied the whole WAL, which the next commit starts over.
    private func checkpoint(_ connection: SQLiteConnection) throws -> Bool {
        let before = connection.walFrames
        let copied = try connection.checkpointWAL()
        guard copied > 0 else { return false }
        syncs.record(2)
        return copied >= before
    }

    /// Statements the write connection has prepared (for tests).
    var preparedStatements: Int { writeSide.withLock { $0?.connection.preparedCount } ?? 0 }

    /// Ends the readers, closes the connections (SQLite then checkpoints and
    /// removes the `-wal` file, at its last connection) and the lock.
    /// Closing twice is harmless.
    func close() {
        writeSide.withLock { side in
            readSide.withLock { reader in
                reader?.connection.close()
                reader = nil
            }
            readers.closeAll()
            side?.connection.close()
            side = nil
        }
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
