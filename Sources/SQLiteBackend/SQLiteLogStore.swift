import StorageCore

/// The Raft log in one SQLite database, `log.db`:
///
///     entries (idx INTEGER PRIMARY KEY, record BLOB)   -- one LogEntryCodec record per entry
///     meta (name TEXT PRIMARY KEY, value BLOB)         -- 'hard_state', 'compaction'
///
/// The `LogStore` rules are `KeyValueLogStore`'s; every mutating call is one
/// transaction here, committed with `synchronous=FULL` when sync is on: 1
/// fdatasync of the `-wal` (see `SQLiteDatabase`). Reads use the read
/// connection and never wait for a commit. Indexes are SQLite integers, so
/// the log refuses indexes past 2^63 - 1.
final class SQLiteLogEngine: OrderedLogEngine {
    static let schema = [
        "CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, record BLOB NOT NULL)",
        "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
    ]

    private let syncs = SyncCounter()
    private let database: SQLiteDatabase

    init(directory: String, sync: Bool, settings: SQLiteSettings) throws {
        // With sync off commits use NORMAL: no fsync, still a consistent database.
        database = try SQLiteDatabase(
            directory: directory, fileName: "log.db", schema: Self.schema, sync: sync, synchronous: sync ? .full : .normal,
            settings: settings, syncs: syncs)
    }

    var path: String { database.path }
    var syncCount: UInt64 { syncs.value }

    /// Statements the write connection has prepared, for tests: it stays
    /// fixed however many calls are made, as each SQL text is compiled once.
    var preparedStatements: Int { database.preparedStatements }

    static func readMeta(_ connection: SQLiteConnection, _ name: String) throws -> Bytes? {
        try connection.withStatement("SELECT value FROM meta WHERE name = ?1") { row in
            try row.bind(1, name)
            return try row.step() ? row.bytes(0) : nil
        }
    }

    static func writeMeta(_ connection: SQLiteConnection, _ name: String, _ value: Bytes) throws {
        try connection.withStatement("INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)") { statement in
            try statement.bind(1, name)
            try statement.bind(2, value)
            try statement.run()
        }
    }

    func record(_ kind: LogMetaRecord) throws -> Bytes? {
        try database.read { try Self.readMeta($0, kind == .hardState ? "hard_state" : "compaction") }
    }

    func entryIndexes() throws -> (first: UInt64, last: UInt64)? {
        try database.read { connection in
            try connection.withStatement("SELECT MIN(idx), MAX(idx) FROM entries") { row in
                _ = try row.step()
                if row.isNull(0) { return nil }
                return (first: UInt64(bitPattern: row.int64(0)), last: UInt64(bitPattern: row.int64(1)))
            }
        }
    }

    func scanEntries(_ range: ClosedRange<UInt64>, _ visit: (UInt64?, Bytes) throws -> Bool) throws {
        try database.read { connection in
            try connection.withStatement("SELECT idx, record FROM entries WHERE idx BETWEEN ?1 AND ?2 ORDER BY idx") { rows in
                try rows.bind(1, Int64(clamping: range.lowerBound))
                try rows.bind(2, Int64(clamping: range.upperBound))
                while try rows.step(), try visit(UInt64(bitPattern: rows.int64(0)), rows.bytes(1)) {}
            }
        }
    }

    func write(_ batch: LogWriteBatch) throws {
        if let last = batch.entries.last, last.index > UInt64(Int64.max) {
            throw StorageError.invalidArgument("the sqlite backend keeps log indexes up to \(Int64.max)")
        }
        try database.write { connection in
            if let first = batch.entries.first, first.index <= batch.previousLast {
                // The replaced entries and what lies past the new end, in one statement.
                try connection.withStatement("DELETE FROM entries WHERE idx >= ?1") { statement in
                    try statement.bind(1, Int64(first.index))
                    try statement.run()
                }
            } else if batch.compactionPoint == nil, !batch.deleted.isEmpty {
                try connection.withStatement("DELETE FROM entries WHERE idx > ?1") { statement in
                    try statement.bind(1, Int64(clamping: batch.deleted.lowerBound - 1))
                    try statement.run()
                }
            }
            for (index, record) in batch.entries {
                try connection.withStatement("INSERT INTO entries (idx, record) VALUES (?1, ?2)") { statement in
                    try statement.bind(1, Int64(index))
                    try statement.bind(2, record)
                    try statement.run()
                }
            }
            if let hardState = batch.hardState { try Self.writeMeta(connection, "hard_state", hardState) }
            if let point = batch.compactionPoint {
                // Through the last dropped entry: no row lies past the log's end.
                try connection.withStatement("DELETE FROM entries WHERE idx <= ?1") { statement in
                    try statement.bind(1, Int64(clamping: batch.deleted.upperBound - 1))
                    try statement.run()
                }
                try Self.writeMeta(connection, "compaction", point)
            }
        }
    }

    func close() throws { database.close() }
}

extension KeyValueLogStore where Engine == SQLiteLogEngine {
    /// Statements the write connection has prepared (for tests).
    var preparedStatements: Int { engine.preparedStatements }
}
