import CLMDB
import StorageCore

/// The Raft log in one LMDB environment, in two named databases:
/// "log" maps an 8-byte big-endian index (so key order is index order) to the
/// `LogEntryCodec` record, and "hardstate" holds the hard state and the
/// compaction point. The `LogStore` rules are `KeyValueLogStore`'s; every
/// mutating call is one write transaction here, which is what makes an
/// append and its hard state atomic.
///
/// # Where it syncs
/// At the commit of each mutating call (see `LMDBEnvironment`): with `sync` on,
/// an fdatasync of data.mdb plus an O_DSYNC write of the meta page, counted as
/// 2 syncs, so 64 appended entries and a hard state cost one commit.
final class LMDBLogEngine: OrderedLogEngine {
    static let hardStateKey = Array("hard".utf8)
    static let compactionKey = Array("compaction".utf8)

    private let environment: LMDBEnvironment
    private let log: MDB_dbi
    private let meta: MDB_dbi

    init(directory: String, mapSize: Int, sync: Bool) throws {
        let environment = try LMDBEnvironment(directory: directory, mapSize: mapSize, sync: sync, maxDatabases: 2)
        let databases: (log: MDB_dbi, meta: MDB_dbi)
        do {
            databases = try environment.write { txn in
                (try txn.openDatabase("log"), try txn.openDatabase("hardstate"))
            }
        } catch {
            try? environment.close()
            throw error
        }
        self.environment = environment
        log = databases.log
        meta = databases.meta
    }

    var path: String { environment.dataPath }
    var syncCount: UInt64 { environment.syncs.value }

    func record(_ kind: LogMetaRecord) throws -> Bytes? {
        let key = kind == .hardState ? Self.hardStateKey : Self.compactionKey
        return try environment.read { txn in try txn.get(meta, key) }
    }

    func entryIndexes() throws -> (first: UInt64, last: UInt64)? {
        let path = self.path
        return try environment.read { txn in
            try txn.withCursor(log) { cursor in
                guard let first = try cursor.first() else { return nil }
                guard let last = try cursor.last(),
                    let firstIndex = UInt64(bigEndianBytes: first.key),
                    let lastIndex = UInt64(bigEndianBytes: last.key)
                else {
                    throw StorageError.corrupted(path: path, reason: "log key is not an 8-byte index")
                }
                return (first: firstIndex, last: lastIndex)
            }
        }
    }

    func scanEntries(_ range: ClosedRange<UInt64>, _ visit: (UInt64?, Bytes) throws -> Bool) throws {
        try environment.read { txn in
            try txn.withCursor(log) { cursor in
                var pair = try cursor.seek(range.lowerBound.bigEndianBytes)
                while let found = pair, try visit(UInt64(bigEndianBytes: found.key), found.value) {
                    pair = try cursor.next()
                }
            }
        }
    }

    /// Entries past the old end go in with MDB_APPEND (no tree search, full pages).
    func write(_ batch: LogWriteBatch) throws {
        try environment.write { txn in
            for index in batch.deleted { try txn.delete(log, index.bigEndianBytes) }
            for (index, record) in batch.entries {
                try txn.put(log, index.bigEndianBytes, record, append: index > batch.previousLast)
            }
            if let hardState = batch.hardState { try txn.put(meta, Self.hardStateKey, hardState) }
            if let point = batch.compactionPoint { try txn.put(meta, Self.compactionKey, point) }
        }
    }

    func close() throws { try environment.close() }
}

extension LMDBEnvironment {
    var dataPath: String { directory + "/data.mdb" }
}
