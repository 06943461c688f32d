import StorageCore

/// The Raft log in one LevelDB database (key layout in `LevelDBKeys`). The
/// `LogStore` rules are `KeyValueLogStore`'s; every mutating call is a single
/// WriteBatch here, so an append of 64 entries plus a hard state is one
/// atomic log record and, with sync on, one sync.
///
/// # Where it syncs
/// In `leveldb_write` with sync=1, once per mutating call: an fdatasync of the
/// current .log file (see `LevelDBDatabase`), counted as 1.
final class LevelDBLogEngine: OrderedLogEngine {
    private let database: LevelDBDatabase

    init(directory: String, sync: Bool, settings: LevelDBSettings) throws {
        database = try LevelDBDatabase(directory: directory, sync: sync, settings: settings)
    }

    var path: String { database.directory }
    var syncCount: UInt64 { database.syncs.value }

    func record(_ kind: LogMetaRecord) throws -> Bytes? {
        try database.get(kind == .hardState ? LevelDBKeys.hardState : LevelDBKeys.compaction)
    }

    func entryIndexes() throws -> (first: UInt64, last: UInt64)? {
        var firstKey: Bytes?
        try database.scan(from: [LevelDBKeys.data]) { pair in
            firstKey = pair.key
            return false
        }
        guard let firstKey else { return nil }
        guard let first = LevelDBKeys.index(ofEntry: firstKey),
            let lastKey = try database.last(before: LevelDBKeys.dataEnd)?.key,
            let last = LevelDBKeys.index(ofEntry: lastKey)
        else {
            throw StorageError.corrupted(path: path, reason: "log key is not a namespace byte and an 8-byte index")
        }
        return (first, last)
    }

    func scanEntries(_ range: ClosedRange<UInt64>, _ visit: (UInt64?, Bytes) throws -> Bool) throws {
        try database.scan(from: LevelDBKeys.entry(range.lowerBound)) { pair in
            try visit(LevelDBKeys.index(ofEntry: pair.key), pair.value)
        }
    }

    func write(_ batch: LogWriteBatch) throws {
        let writeBatch = LevelDBBatch()
        for index in batch.deleted { writeBatch.delete(LevelDBKeys.entry(index)) }
        for (index, record) in batch.entries { writeBatch.put(LevelDBKeys.entry(index), record) }
        if let hardState = batch.hardState { writeBatch.put(LevelDBKeys.hardState, hardState) }
        if let point = batch.compactionPoint { writeBatch.put(LevelDBKeys.compaction, point) }
        try database.write(writeBatch)
    }

    func close() throws { try database.close() }
}
