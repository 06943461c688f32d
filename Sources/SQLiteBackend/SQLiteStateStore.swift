import StorageCore
import Synchronization

/// The state machine's pairs in one SQLite database, `state.db`:
///
///     kv (key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID
///     meta (name TEXT PRIMARY KEY, value BLOB)          -- 'applied'
///
/// SQLite compares BLOBs with memcmp, then by length: unsigned byte order,
/// empty keys included. Each `apply` and `restore` is one transaction that
/// writes the applied position with the pairs.
///
/// # Where it syncs
/// With sync on, in `StateSyncMode.always` the database runs with
/// `synchronous=FULL`: each apply's commit fdatasyncs the `-wal` (1 sync).
/// In `.checkpoint` it runs with `synchronous=NORMAL`: an apply's commit is
/// written to the `-wal` without a sync; SQLite recovers a prefix of whole
/// transactions after a power cut (its WAL frames carry cumulative
/// checksums), never a torn one, and the database stays consistent.
/// `checkpoint()` then commits one transaction (rewriting the applied
/// position) with FULL: its fdatasync of the `-wal` makes every earlier
/// apply durable (1 sync). A `restore` always commits with FULL.
final class SQLiteStateStore: StateStore {
    static let schema = [
        "CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
        "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
    ]

    private struct Open {
        let database: SQLiteDatabase
        var position: AppliedPosition
        /// Applies committed without a sync since the last checkpoint.
        var unsynced = false
    }

    private let syncs = SyncCounter()
    private let path: String
    private let sync: Bool
    private let syncEachApply: Bool
    private let readers: SQLiteReaders
    /// nil once closed.
    private let state: Mutex<Open?>

    init(directory: String, sync: Bool, stateSync: StateSyncMode, settings: SQLiteSettings) throws {
        self.sync = sync
        syncEachApply = stateSync == .always
        let database = try SQLiteDatabase(
            directory: directory, fileName: "state.db", schema: Self.schema, sync: sync,
            synchronous: sync && stateSync == .always ? .full : .normal, settings: settings, syncs: syncs)
        path = database.path
        readers = database.readers
        do {
            state = Mutex(Open(database: database, position: try Self.readPosition(database.connection, path: database.path)))
        } catch {
            database.close()
            throw error
        }
    }

    static func readPosition(_ connection: SQLiteConnection, path: String) throws -> AppliedPosition {
        try SQLiteLogStore.readMeta(connection, "applied").map {
            try PositionCodec.decode($0, source: "\(path) (applied position)")
        } ?? .zero
    }

    private func withOpen<T>(_ body: (inout Open) throws -> T) throws -> T {
        try state.withLock { state in
            guard state != nil else { throw StorageError.closed }
            return try body(&state!)
        }
    }

    func get(_ key: Bytes) throws -> Bytes? {
        try withOpen { open in
            try open.database.connection.withStatement("SELECT value FROM kv WHERE key = ?1") { row in
                try row.bind(1, key)
                return try row.step() ? row.bytes(0) : nil
            }
        }
    }

    func scan(_ range: KeyRange, limit: Int) throws -> [KeyValue] {
        try withOpen { open in
            guard limit > 0 else { return [] }
            let sql = range.upper == nil
                ? "SELECT key, value FROM kv WHERE key >= ?1 ORDER BY key LIMIT ?3"
                : "SELECT key, value FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3"
            return try open.database.connection.withStatement(sql) { rows in
                try rows.bind(1, range.lower)
                if let upper = range.upper { try rows.bind(2, upper) }
                try rows.bind(3, Int64(min(limit, Int(Int64.max))))
                var pairs: [KeyValue] = []
                while try rows.step() { pairs.append(KeyValue(key: rows.bytes(0), value: rows.bytes(1))) }
                return pairs
            }
        }
    }

    func apply(_ batch: WriteBatch, through position: AppliedPosition) throws {
        try withOpen { open in
            guard position >= open.position else {
                throw StorageError.invalidArgument(
                    "applied position \(position.index) is below the current position \(open.position.index)")
            }
            let connection = open.database.connection
            try open.database.write {
                for operation in batch.operations {
                    switch operation {
                    case .put(let key, let value):
                        try connection.withStatement("INSERT OR REPLACE INTO kv (key, value) VALUES (?1, ?2)") { statement in
                            try statement.bind(1, key)
                            try statement.bind(2, value)
                            try statement.run()
                        }
                    case .delete(let key):
                        try connection.withStatement("DELETE FROM kv WHERE key = ?1") { statement in
                            try statement.bind(1, key)
                            try statement.run()
                        }
                    }
                }
                try SQLiteLogStore.writeMeta(connection, "applied", PositionCodec.encode(position))
            }
            open.position = position
            if sync, !syncEachApply { open.unsynced = true }
        }
    }

    func appliedPosition() throws -> AppliedPosition { try withOpen { $0.position } }

    func checkpoint() throws -> AppliedPosition {
        try withOpen { open in
            guard open.unsynced else { return open.position }
            let connection = open.database.connection
            let position = open.position
            try open.database.write(durable: true) {
                try SQLiteLogStore.writeMeta(connection, "applied", PositionCodec.encode(position))
            }
            open.unsynced = false
            return position
        }
    }

    /// Its own connection in a read transaction: the position and the pairs
    /// are read from one snapshot of the database while writes go on.
    func snapshot() throws -> any StateSnapshot {
        _ = try appliedPosition()
        let path = self.path
        let (reader, position) = try readers.open(query: "SELECT key, value FROM kv ORDER BY key") { connection in
            try Self.readPosition(connection, path: path)
        }
        return SQLiteStateSnapshot(readers: readers, reader: reader, position: position)
    }

    /// One transaction: delete every pair, insert the source's pairs as they
    /// stream in, record the position, commit (durable). SQLite spills a big
    /// transaction to the `-wal` as its page cache fills, so memory stays
    /// bounded; until the commit the old state is the state, and a crash or a
    /// bad source midway leaves it whole.
    func restore(from source: inout some KeyValueSource, position: AppliedPosition) throws {
        try withOpen { open in
            let connection = open.database.connection
            try open.database.write(durable: true) {
                try connection.execute("DELETE FROM kv")
                var previous: Bytes?
                while let pair = try source.next() {
                    try RestoreOrder.check(pair.key, after: previous)
                    previous = pair.key
                    try connection.withStatement("INSERT INTO kv (key, value) VALUES (?1, ?2)") { statement in
                        try statement.bind(1, pair.key)
                        try statement.bind(2, pair.value)
                        try statement.run()
                    }
                }
                try SQLiteLogStore.writeMeta(connection, "applied", PositionCodec.encode(position))
            }
            open.position = position
            open.unsynced = false
        }
    }

    var syncCount: UInt64 { syncs.value }

    /// Statements the write connection has prepared, for tests.
    var preparedStatements: Int { (try? withOpen { $0.database.connection.preparedCount }) ?? 0 }

    func close() throws {
        state.withLock { state in
            state?.database.close()
            state = nil
        }
    }
}

/// A point-in-time view of a SQLite state store: a connection of its own in
/// a read transaction, stepping one query. Closing the store ends it (`.closed`).
final class SQLiteStateSnapshot: StateSnapshot {
    let position: AppliedPosition
    private let readers: SQLiteReaders
    private let reader: Int

    init(readers: SQLiteReaders, reader: Int, position: AppliedPosition) {
        self.readers = readers
        self.reader = reader
        self.position = position
    }

    func next() throws -> KeyValue? { try readers.next(reader) }

    func close() { readers.close(reader) }

    /// A forgotten snapshot must not pin the WAL for the life of the store.
    deinit { readers.close(reader) }
}
