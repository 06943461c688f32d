import CLMDB
import StorageCore

/// A transaction handed to a closure by `LMDBEnvironment`; it must not escape
/// the closure, because the environment commits or aborts it on return.
///
/// It remembers whether it changed anything so the environment can count
/// syncs honestly: LMDB skips the fdatasync of a commit without dirty pages.
final class LMDBTransaction {
    let pointer: OpaquePointer
    let env: OpaquePointer
    private(set) var wrote = false

    init(_ pointer: OpaquePointer, env: OpaquePointer) {
        self.pointer = pointer
        self.env = env
    }

    /// Opens a named database, creating it (a write) only when it is missing.
    func openDatabase(_ name: String) throws -> MDB_dbi {
        var dbi: MDB_dbi = 0
        let rc = mdb_dbi_open(pointer, name, 0, &dbi)
        if rc == MDB_NOTFOUND {
            try LMDBError.check(
                mdb_dbi_open(pointer, name, UInt32(MDB_CREATE), &dbi), "create database \(name)", env: env)
            wrote = true
            return dbi
        }
        try LMDBError.check(rc, "open database \(name)", env: env)
        return dbi
    }

    func get(_ dbi: MDB_dbi, _ key: Bytes) throws -> Bytes? {
        try withValue(key) { keyValue in
            var data = MDB_val()
            let rc = mdb_get(pointer, dbi, &keyValue, &data)
            if rc == MDB_NOTFOUND { return nil }
            try LMDBError.check(rc, "mdb_get", env: env)
            return LMDBTransaction.bytes(data)
        }
    }

    /// `append` uses MDB_APPEND: the caller promises the key sorts after every
    /// key in the database, and LMDB skips the tree search and fills pages fully.
    func put(_ dbi: MDB_dbi, _ key: Bytes, _ value: Bytes, append: Bool = false) throws {
        try withValue(key) { keyValue in
            try withValue(value) { dataValue in
                let flags = append ? UInt32(MDB_APPEND) : 0
                try LMDBError.check(mdb_put(pointer, dbi, &keyValue, &dataValue, flags), "mdb_put", env: env)
            }
        }
        wrote = true
    }

    /// Deletes `key`; a missing key is not an error.
    func delete(_ dbi: MDB_dbi, _ key: Bytes) throws {
        try withValue(key) { keyValue in
            let rc = mdb_del(pointer, dbi, &keyValue, nil)
            if rc == MDB_NOTFOUND { return }
            try LMDBError.check(rc, "mdb_del", env: env)
            wrote = true
        }
    }

    /// Removes every key of `dbi` but keeps the database itself.
    func empty(_ dbi: MDB_dbi) throws {
        try LMDBError.check(mdb_drop(pointer, dbi, 0), "mdb_drop", env: env)
        wrote = true
    }

    func withCursor<R>(_ dbi: MDB_dbi, _ body: (LMDBCursor) throws -> R) throws -> R {
        var cursor: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(pointer, dbi, &cursor), "mdb_cursor_open", env: env)
        guard let cursor else { throw StorageError.engine(backend: LMDBError.backend, message: "mdb_cursor_open returned no cursor") }
        defer { mdb_cursor_close(cursor) }
        return try body(LMDBCursor(pointer: cursor, env: env))
    }

    static func bytes(_ value: MDB_val) -> Bytes {
        guard value.mv_size > 0, let data = value.mv_data else { return [] }
        return Bytes(UnsafeRawBufferPointer(start: data, count: value.mv_size))
    }
}

/// Points an MDB_val at `bytes` for the duration of `body`.
func withValue<R>(_ bytes: Bytes, _ body: (inout MDB_val) throws -> R) rethrows -> R {
    try bytes.withUnsafeBytes { raw in
        var value = MDB_val(mv_size: raw.count, mv_data: UnsafeMutableRawPointer(mutating: raw.baseAddress))
        return try body(&value)
    }
}

/// A position in one database; every move returns the pair it lands on, or
/// nil past either end.
struct LMDBCursor {
    let pointer: OpaquePointer
    let env: OpaquePointer

    func first() throws -> KeyValue? { try move(MDB_FIRST) }
    func last() throws -> KeyValue? { try move(MDB_LAST) }
    func next() throws -> KeyValue? { try move(MDB_NEXT) }

    /// The first pair whose key is at or after `key`.
    func seek(_ key: Bytes) throws -> KeyValue? {
        try withValue(key) { keyValue in
            var data = MDB_val()
            let rc = mdb_cursor_get(pointer, &keyValue, &data, MDB_SET_RANGE)
            if rc == MDB_NOTFOUND { return nil }
            try LMDBError.check(rc, "mdb_cursor_get", env: env)
            return KeyValue(key: LMDBTransaction.bytes(keyValue), value: LMDBTransaction.bytes(data))
        }
    }

    func move(_ operation: MDB_cursor_op) throws -> KeyValue? {
        var key = MDB_val()
        var data = MDB_val()
        let rc = mdb_cursor_get(pointer, &key, &data, operation)
        if rc == MDB_NOTFOUND { return nil }
        try LMDBError.check(rc, "mdb_cursor_get", env: env)
        return KeyValue(key: LMDBTransaction.bytes(key), value: LMDBTransaction.bytes(data))
    }
}
