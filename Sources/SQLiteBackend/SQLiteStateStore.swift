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

    private let syncs = SyncCounter()
    private let database: SQLiteDatabase
    private let sync: Bool
    private let syncEachApply: Bool
    /// Cached applied position; nil once closed. Held only for a moment.
    private let applied: Mutex<AppliedPosition?>
    /// Applies committed without a sync since the last checkpoint.
    private let unsynced = Atomic(false)
    /// Serialises mutating calls across the commit and its fsync; reads use
    /// the read connection and never wait for it.
    private let writer = Mutex(())
    /// The largest key and value this store holds; larger writes are refused before any is written.
    let limits: StateStoreLimits

    init(directory: String, sync: Bool, stateSync: StateSyncMode, settings: SQLiteSettings, limits: StateStoreLimits = .cluster) throws {
        self.limits = limits
        self.sync = sync
        syncEachApply = stateSync == .always
        let database = try SQLiteDatabase(
            directory: directory, fileName: "state.db", schema: Self.schema, sync: sync,
            synchronous: sync && stateSync == .always ? .full : .normal, settings: settings, syncs: syncs)
        do {
            applied = Mutex(try database.read { try Self.readPosition($0, path: database.path) })
            self.database = database
        } catch {
            database.close()
            throw error
        }
    }

    static func readPosition(_ connection: SQLiteConnection, path: String) throws -> AppliedPosition {
        try SQLiteLogEngine.readMeta(connection, "applied").map {
            try PositionCodec.decode($0, source: "\(path) (applied position)")
        } ?? .zero
    }

    func get(_ key: Bytes) throws -> Bytes? {
        _ = try appliedPosition()
        return try database.read { connection in
            try connection.withStatement("SELECT value FROM kv WHERE key = ?1") { row in
                try row.bind(1, key)
                return try row.step() ? row.bytes(0) : nil
            }
        }
    }

    func scan(_ range: KeyRange, limit: Int) throws -> [KeyValue] {
        _ = try appliedPosition()
        guard limit > 0 else { return [] }
        let sql = range.upper == nil
            ? "SELECT key, value FROM kv WHERE key >= ?1 ORDER BY key LIMIT ?3"
            : "SELECT key, value FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3"
        return try database.read { connection in
            try connection.withStatement(sql) { rows in
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
        try limits.check(batch)
        try writer.withLock { _ in
            let current = try appliedPosition()
            guard position >= current else {
                throw StorageError.invalidArgument(
                    "applied position \(position.index) is below the current position \(current.index)")
            }
            try database.write { connection in
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
                try SQLiteLogEngine.writeMeta(connection, "applied", PositionCodec.encode(position))
            }
            if sync, !syncEachApply { unsynced.store(true, ordering: .relaxed) }
            applied.withLock { if $0 != nil { $0 = position } }
        }
    }

    func appliedPosition() throws -> AppliedPosition {
        guard let position = applied.withLock({ $0 }) else { throw StorageError.closed }
        return position
    }

    func checkpoint() throws -> AppliedPosition {
        try writer.withLock { _ in
            let position = try appliedPosition()
            guard unsynced.load(ordering: .relaxed) else { return position }
            try database.write(durable: true) { connection in
                try SQLiteLogEngine.writeMeta(connection, "applied", PositionCodec.encode(position))
            }
            unsynced.store(false, ordering: .relaxed)
            return position
        }
    }

    /// Its own connection in a read transaction: the position and the pairs
    /// are read from one snapshot of the database while writes go on.
    func snapshot() throws -> any StateSnapshot {
        _ = try appliedPosition()
        let path = database.path
        let (reader, position) = try database.readers.open(query: "SELECT key, value FROM kv ORDER BY key") { connection in
            try Self.readPosition(connection, path: path)
        }
        return SQLiteStateSnapshot(readers: database.readers, reader: reader, position: position)
    }

    /// One transaction: delete every pair, insert the source's pairs as they
    /// stream in, record the position, commit (durable). SQLite spills a big
    /// transaction to the `-wal` as its page cache fills, so memory stays
    /// bounded; until the commit the old state is the state, and a crash or a
    /// bad source midway leaves it whole.
    func restore(from source: inout some KeyValueSource, position: AppliedPosition) throws {
        try writer.withLock { _ in
            _ = try appliedPosition()
            try database.write(durable: true) { connection in
                try connection.execute("DELETE FROM kv")
                var previous: Bytes?
                while let pair = try source.next() {
                    try RestoreOrder.check(pair.key, after: previous)
                    try limits.check(key: pair.key, value: pair.value)
                    previous = pair.key
                    try connection.withStatement("INSERT INTO kv (key, value) VALUES (?1, ?2)") { statement in
                        try statement.bind(1, pair.key)
                        try statement.bind(2, pair.value)
                        try statement.run()
                    }
                }
                try SQLiteLogEngine.writeMeta(connection, "applied", PositionCodec.encode(position))
            }
            unsynced.store(false, ordering: .relaxed)
            applied.withLock { if $0 != nil { $0 = position } }
        }
    }

    var syncCount: UInt64 { syncs.value }

    /// Statements the write connection has prepared, for tests.
    var preparedStatements: Int { database.preparedStatements }

    func close() throws {
        writer.withLock { _ in
            applied.withLock { $0 = nil }
            database.close()
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
