import StorageCore
import Synchronization

/// The Raft log in one SQLite database, `log.db`:
///
///     entries (idx INTEGER PRIMARY KEY, record BLOB)   -- one LogEntryCodec record per entry
///     meta (name TEXT PRIMARY KEY, value BLOB)         -- 'hard_state', 'compaction'
///
/// Every mutating call is one transaction, committed with
/// `synchronous=FULL` when sync is on: 1 fdatasync of the `-wal` (see
/// `SQLiteDatabase`). Indexes are SQLite integers, so the log refuses
/// indexes past 2^63 - 1.
final class SQLiteLogStore: LogStore {
    static let schema = [
        "CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, record BLOB NOT NULL)",
        "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
    ]

    private struct Open {
        let database: SQLiteDatabase
        var bounds: LogBounds
    }

    private let syncs = SyncCounter()
    private let path: String
    /// nil once closed.
    private let state: Mutex<Open?>

    init(directory: String, sync: Bool, settings: SQLiteSettings) throws {
        // With sync off commits use NORMAL: no fsync, still a consistent database.
        let database = try SQLiteDatabase(
            directory: directory, fileName: "log.db", schema: Self.schema, sync: sync, synchronous: sync ? .full : .normal,
            settings: settings, syncs: syncs)
        path = database.path
        do {
            state = Mutex(Open(database: database, bounds: try Self.loadBounds(database)))
        } catch {
            database.close()
            throw error
        }
    }

    private static func loadBounds(_ database: SQLiteDatabase) throws -> LogBounds {
        let path = database.path
        let snapshot = try readMeta(database.connection, "compaction").map {
            try PositionCodec.decode($0, source: "\(path) (compaction point)")
        } ?? .zero
        let (first, last) = try database.connection.withStatement("SELECT MIN(idx), MAX(idx) FROM entries") { row in
            _ = try row.step()
            return row.isNull(0) ? (nil, nil) : (UInt64(bitPattern: row.int64(0)), UInt64(bitPattern: row.int64(1)))
        }
        guard let first, let last else { return LogBounds(snapshot: snapshot, last: snapshot.index) }
        guard first == snapshot.index + 1 else {
            throw StorageError.corrupted(path: path, reason: "log starts at \(first) but the compaction point is \(snapshot.index)")
        }
        return LogBounds(snapshot: snapshot, last: last)
    }

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

    private func withOpen<T>(_ body: (inout Open) throws -> T) throws -> T {
        try state.withLock { state in
            guard state != nil else { throw StorageError.closed }
            return try body(&state!)
        }
    }

    func snapshotIndex() throws -> UInt64 { try withOpen { $0.bounds.snapshot.index } }
    func firstIndex() throws -> UInt64 { try withOpen { $0.bounds.first } }
    func lastIndex() throws -> UInt64 { try withOpen { $0.bounds.last } }

    func term(at index: UInt64) throws -> UInt64 {
        if let known = try withOpen({ try $0.bounds.knownTerm(at: index) }) { return known }
        return try entry(at: index).term
    }

    func entries(_ range: ClosedRange<UInt64>, maxBytes: Int) throws -> [LogEntry] {
        try withOpen { open in
            try open.bounds.check(range)
            var collector = EntryCollector(range: range, maxBytes: maxBytes)
            let path = self.path
            try open.database.connection.withStatement(
                "SELECT idx, record FROM entries WHERE idx BETWEEN ?1 AND ?2 ORDER BY idx"
            ) { rows in
                try rows.bind(1, Int64(clamping: range.lowerBound))
                try rows.bind(2, Int64(clamping: range.upperBound))
                while try rows.step() {
                    let index = UInt64(bitPattern: rows.int64(0))
                    guard index == collector.expected else { break }
                    let entry = try LogEntryCodec.decode(rows.bytes(1), source: "\(path) (log entry \(index))")
                    guard try collector.add(entry, path: path) else { break }
                }
            }
            if let missing = collector.expected {
                throw StorageError.corrupted(path: path, reason: "log entry \(missing) is missing")
            }
            return collector.entries
        }
    }

    func append(_ entries: [LogEntry], hardState: HardState?) throws {
        try withOpen { open in
            let plan = try open.bounds.planAppend(entries)
            guard plan != nil || hardState != nil else { return }
            if let plan, plan.newLast > UInt64(Int64.max) {
                throw StorageError.invalidArgument("the sqlite backend keeps log indexes up to \(Int64.max)")
            }
            let connection = open.database.connection
            try open.database.write {
                if let first = entries.first, first.index <= open.bounds.last {
                    try connection.withStatement("DELETE FROM entries WHERE idx >= ?1") { statement in
                        try statement.bind(1, Int64(first.index))
                        try statement.run()
                    }
                }
                for entry in entries {
                    try connection.withStatement("INSERT INTO entries (idx, record) VALUES (?1, ?2)") { statement in
                        try statement.bind(1, Int64(entry.index))
                        try statement.bind(2, LogEntryCodec.encode(entry))
                        try statement.run()
                    }
                }
                if let hardState { try Self.writeMeta(connection, "hard_state", HardStateCodec.encode(hardState)) }
            }
            if let plan { open.bounds.last = plan.newLast }
        }
    }

    func truncateSuffix(after index: UInt64) throws {
        try withOpen { open in
            guard try open.bounds.planTruncate(after: index) != nil else { return }
            let connection = open.database.connection
            try open.database.write {
                try connection.withStatement("DELETE FROM entries WHERE idx > ?1") { statement in
                    try statement.bind(1, Int64(clamping: index))
                    try statement.run()
                }
            }
            open.bounds.last = index
        }
    }

    func compact(through index: UInt64, term: UInt64) throws {
        try withOpen { open in
            guard let plan = try open.bounds.planCompact(through: index, term: term) else { return }
            let connection = open.database.connection
            try open.database.write {
                try connection.withStatement("DELETE FROM entries WHERE idx <= ?1") { statement in
                    try statement.bind(1, Int64(clamping: index))
                    try statement.run()
                }
                try Self.writeMeta(connection, "compaction", PositionCodec.encode(plan.bounds.snapshot))
            }
            open.bounds = plan.bounds
        }
    }

    func hardState() throws -> HardState {
        try withOpen { open in
            try Self.readMeta(open.database.connection, "hard_state").map {
                try HardStateCodec.decode($0, source: "\(path) (hard state)")
            } ?? .initial
        }
    }

    var syncCount: UInt64 { syncs.value }

    /// Statements the write connection has prepared, for tests: it stays
    /// fixed however many calls are made, as each SQL text is compiled once.
    var preparedStatements: Int { (try? withOpen { $0.database.connection.preparedCount }) ?? 0 }

    func close() throws {
        state.withLock { state in
            state?.database.close()
            state = nil
        }
    }
}
