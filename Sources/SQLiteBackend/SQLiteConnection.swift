import CSQLite
import StorageCore

/// One SQLite connection and its prepared statements, which it keeps and
/// reuses (each is compiled once per connection, on first use). Not
/// thread-safe: the store that owns it calls it under its lock only.
final class SQLiteConnection {
    static let backend = "sqlite"

    let path: String
    private var db: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]
    /// Frames in the WAL after the last commit, set by SQLite's WAL hook.
    private let frameCount = WALFrameCount()

    /// Where SQLite's WAL hook reports the WAL's length. A class so the C
    /// callback can reach it through a context pointer.
    private final class WALFrameCount {
        var frames: Int32 = 0
    }

    init(path: String) throws {
        self.path = path
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let code = sqlite3_open_v2(path, &handle, flags, nil)
        guard code == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(handle)
            throw Self.error(code, message, "open", path: path)
        }
        db = handle
        do {
            // Another connection (a snapshot reader) may hold a lock for an instant.
            try check(sqlite3_busy_timeout(handle, 10_000), "busy_timeout")
        } catch {
            close()
            throw error
        }
    }

    /// A typed error for an SQLite result code: damage is `.corrupted`, a full
    /// disk `.full`, anything else an engine error with SQLite's message.
    static func error(_ code: Int32, _ message: String, _ operation: String, path: String) -> StorageError {
        switch code & 0xFF {
        case SQLITE_CORRUPT, SQLITE_NOTADB: .corrupted(path: path, reason: "\(operation): \(message)")
        case SQLITE_FULL: .full(backend: backend, detail: "\(operation): \(message)")
        default: .engine(backend: backend, message: "\(operation) \(path): \(message) (code \(code))")
        }
    }

    private func handle() throws -> OpaquePointer {
        guard let db else { throw StorageError.closed }
        return db
    }

    func check(_ code: Int32, _ operation: @autoclosure () -> String) throws {
        guard code != SQLITE_OK, code != SQLITE_ROW, code != SQLITE_DONE else { return }
        throw Self.error(code, db.map { String(cString: sqlite3_errmsg($0)) } ?? "closed", operation(), path: path)
    }

    /// Runs SQL without results (schema, pragmas, transaction control).
    func execute(_ sql: String) throws {
        try check(sqlite3_exec(try handle(), sql, nil, nil, nil), sql)
    }

    /// The single text value a query such as `PRAGMA journal_mode=WAL` returns.
    func text(_ sql: String) throws -> String? {
        try withStatement(sql) { statement in
            guard try statement.step(), let text = sqlite3_column_text(statement.pointer, 0) else { return nil }
            return String(cString: text)
        }
    }

    /// Runs `body` with the prepared statement for `sql` (compiled on first
    /// use and kept), then resets it and clears its bindings for the next use.
    func withStatement<R>(_ sql: String, _ body: (Statement) throws -> R) throws -> R {
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        return try body(Statement(pointer: statement, connection: self, sql: sql))
    }

    /// Statements prepared so far (each SQL text once), for tests.
    var preparedCount: Int { statements.count }

    /// The prepared statement for `sql`, left for the caller to step over
    /// many calls (a snapshot's cursor); it ends when the connection closes.
    func cursor(_ sql: String) throws -> Statement {
        Statement(pointer: try prepared(sql), connection: self, sql: sql)
    }

    private func prepared(_ sql: String) throws -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        try check(sqlite3_prepare_v3(try handle(), sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil), "prepare \(sql)")
        guard let statement else {
            throw StorageError.engine(backend: Self.backend, message: "prepare produced no statement for \(sql)")
        }
        statements[sql] = statement
        return statement
    }

    /// Runs `body` in one write transaction (BEGIN IMMEDIATE ... COMMIT),
    /// rolled back when it throws.
    func transaction<R>(_ body: () throws -> R) throws -> R {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Replaces SQLite's automatic checkpoint with a hook that only records
    /// the WAL's length, so the store runs checkpoints itself and counts
    /// their syncs (`walFrames`, `checkpointWAL`).
    func recordWALLength() throws {
        let context = Unmanaged.passUnretained(frameCount).toOpaque()
        _ = sqlite3_wal_hook(try handle(), { context, _, _, frames in
            Unmanaged<WALFrameCount>.fromOpaque(context!).takeUnretainedValue().frames = frames
            return SQLITE_OK
        }, context)
    }

    /// Frames in the WAL after the last commit on this connection.
    var walFrames: Int32 { frameCount.frames }

    /// A passive checkpoint: copies what it can of the WAL into the database
    /// file without waiting for readers. Returns the frames it copied.
    func checkpointWAL() throws -> Int32 {
        var logFrames: Int32 = 0
        var copied: Int32 = 0
        try check(sqlite3_wal_checkpoint_v2(try handle(), "main", SQLITE_CHECKPOINT_PASSIVE, &logFrames, &copied), "wal_checkpoint")
        frameCount.frames = 0
        return copied
    }

    /// Finalizes every statement and closes; closing twice is harmless.
    func close() {
        for statement in statements.values { sqlite3_finalize(statement) }
        statements.removeAll()
        if let db { sqlite3_close_v2(db) }
        db = nil
    }

    deinit { close() }
}

/// A prepared statement lent by `SQLiteConnection.withStatement`.
struct Statement {
    let pointer: OpaquePointer
    let connection: SQLiteConnection
    let sql: String

    /// SQLite copies the bytes (SQLITE_TRANSIENT). An empty value is bound as
    /// a zero-length blob: a nil pointer would bind NULL instead.
    func bind(_ index: Int32, _ bytes: Bytes) throws {
        let code: Int32
        if bytes.isEmpty {
            code = sqlite3_bind_zeroblob(pointer, index, 0)
        } else {
            code = bytes.withUnsafeBytes { buffer in
                sqlite3_bind_blob(pointer, index, buffer.baseAddress, Int32(buffer.count), Self.transient)
            }
        }
        try connection.check(code, "bind \(sql)")
    }

    func bind(_ index: Int32, _ value: Int64) throws {
        try connection.check(sqlite3_bind_int64(pointer, index, value), "bind \(sql)")
    }

    func bind(_ index: Int32, _ text: String) throws {
        try connection.check(sqlite3_bind_text(pointer, index, text, -1, Self.transient), "bind \(sql)")
    }

    /// True when a row is ready, false when the statement is done.
    func step() throws -> Bool {
        let code = sqlite3_step(pointer)
        if code == SQLITE_ROW { return true }
        if code == SQLITE_DONE { return false }
        try connection.check(code, "step \(sql)")
        return false
    }

    /// Runs a statement that returns no rows.
    func run() throws { _ = try step() }

    func bytes(_ column: Int32) -> Bytes {
        let count = Int(sqlite3_column_bytes(pointer, column))
        guard count > 0, let blob = sqlite3_column_blob(pointer, column) else { return [] }
        return Bytes(UnsafeRawBufferPointer(start: blob, count: count))
    }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(pointer, column) }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(pointer, column) == SQLITE_NULL }

    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}
