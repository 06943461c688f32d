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

    private let syncs = SyncCounter()
    private let database: SQLiteDatabase
    private var path: String { database.path }
    /// Cached so bounds checks need no query; nil once closed. Held only for a moment.
    private let bounds: Mutex<LogBounds?>
    /// Serialises mutating calls across the commit and its fsync; reads use
    /// the read connection and never wait for it.
    private let writer = Mutex(())

    init(directory: String, sync: Bool, settings: SQLiteSettings) throws {
        // With sync off commits use NORMAL: no fsync, still a consistent database.
        let database = try SQLiteDatabase(
            directory: directory, fileName: "log.db", schema: Self.schema, sync: sync, synchronous: sync ? .full : .normal,
            settings: settings, syncs: syncs)
        do {
            bounds = Mutex(try database.read { try Self.loadBounds($0, path: database.path) })
            self.database = database
        } catch {
            database.close()
            throw error
        }
    }

    private static func loadBounds(_ connection: SQLiteConnection, path: String) throws -> LogBounds {
        let snapshot = try readMeta(connection, "compaction").map {
            try PositionCodec.decode($0, source: "\(path) (compaction point)")
        } ?? .zero
        let (first, last) = try connection.withStatement("SELECT MIN(idx), MAX(idx) FROM entries") { row in
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

    private func current() throws -> LogBounds {
        guard let current = bounds.withLock({ $0 }) else { throw StorageError.closed }
        return current
    }

    func snapshotIndex() throws -> UInt64 { try current().snapshot.index }
    func firstIndex() throws -> UInt64 { try current().first }
    func lastIndex() throws -> UInt64 { try current().last }

    func term(at index: UInt64) throws -> UInt64 {
        if let known = try current().knownTerm(at: index) { return known }
        return try entry(at: index).term
    }

    func entries(_ range: ClosedRange<UInt64>, maxBytes: Int) throws -> [LogEntry] {
        try current().check(range)
        let path = self.path
        let collected = try database.read { connection in
            var collector = EntryCollector(range: range, maxBytes: maxBytes)
            try connection.withStatement("SELECT idx, record FROM entries WHERE idx BETWEEN ?1 AND ?2 ORDER BY idx") { rows in
                try rows.bind(1, Int64(clamping: range.lowerBound))
                try rows.bind(2, Int64(clamping: range.upperBound))
                while try rows.step() {
                    let index = UInt64(bitPattern: rows.int64(0))
                    guard index == collector.expected else { break }
                    let entry = try LogEntryCodec.decode(rows.bytes(1), source: "\(path) (log entry \(index))")
                    guard try collector.add(entry, path: path) else { break }
                }
            }
            return collector
        }
        if let missing = collected.expected { throw explain(MissingEntry(index: missing), reading: range) }
        return collected.entries
    }

    /// An entry of `range` was not there although the bounds promised it: a
    /// compaction or truncation that committed meanwhile explains that, with
    /// the typed error it calls for; otherwise the log is damaged.
    private func explain(_ missing: MissingEntry, reading range: ClosedRange<UInt64>) -> StorageError {
        writer.withLock { _ in }  // a write in flight publishes its bounds when done
        do {
            try current().check(range)
        } catch let error as StorageError {
            return error
        } catch {}
        return .corrupted(path: path, reason: "log entry \(missing.index) is missing")
    }

    func append(_ entries: [LogEntry], hardState: HardState?) throws {
        try writer.withLock { _ in
            let current = try current()
            let plan = try current.planAppend(entries)
            guard plan != nil || hardState != nil else { return }
            if let plan, plan.newLast > UInt64(Int64.max) {
                throw StorageError.invalidArgument("the sqlite backend keeps log indexes up to \(Int64.max)")
            }
            try database.write { connection in
                if let first = entries.first, first.index <= current.last {
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
            if let plan { bounds.withLock { $0?.last = plan.newLast } }
        }
    }

    func truncateSuffix(after index: UInt64) throws {
        try writer.withLock { _ in
            guard try current().planTruncate(after: index) != nil else { return }
            try database.write { connection in
                try connection.withStatement("DELETE FROM entries WHERE idx > ?1") { statement in
                    try statement.bind(1, Int64(clamping: index))
                    try statement.run()
                }
            }
            bounds.withLock { $0?.last = index }
        }
    }

    func compact(through index: UInt64, term: UInt64) throws {
        try writer.withLock { _ in
            guard let plan = try current().planCompact(through: index, term: term) else { return }
            try database.write { connection in
                try connection.withStatement("DELETE FROM entries WHERE idx <= ?1") { statement in
                    try statement.bind(1, Int64(clamping: index))
                    try statement.run()
                }
                try Self.writeMeta(connection, "compaction", PositionCodec.encode(plan.bounds.snapshot))
            }
            bounds.withLock { if $0 != nil { $0 = plan.bounds } }
        }
    }

    func hardState() throws -> HardState {
        _ = try current()
        let path = self.path
        return try database.read { connection in
            try Self.readMeta(connection, "hard_state").map {
                try HardStateCodec.decode($0, source: "\(path) (hard state)")
            } ?? .initial
        }
    }

    var syncCount: UInt64 { syncs.value }

    /// Statements the write connection has prepared, for tests: it stays
    /// fixed however many calls are made, as each SQL text is compiled once.
    var preparedStatements: Int { database.preparedStatements }

    func close() throws {
        writer.withLock { _ in
            bounds.withLock { $0 = nil }
            database.close()
        }
    }
}
