import CRocksDB
import StorageCore

/// The Raft log in one RocksDB database: column family `log` holds each
/// entry under its 8-byte big-endian index (key order is index order), and
/// `hard_state` holds the hard state and the compaction point. The `LogStore`
/// rules are `KeyValueLogStore`'s; every mutating call is a single WriteBatch
/// across both families here, so an append of 64 entries plus a hard state is
/// one atomic WAL record and, with sync on, one sync.
///
/// # Where it syncs
/// In `rocksdb_write` with sync=1, once per mutating call: an fdatasync of the
/// WAL (see `RocksDBDatabase`), counted as 1. The WAL is replayed at open in
/// RocksDB's "tolerate corrupted tail records" mode when sync is on: only a
/// record torn by a crash (never acknowledged) may be dropped, and damage
/// anywhere else fails the open with `.corrupted` instead of silently ending
/// the log early. With sync off, "point in time" recovery keeps the longest
/// intact prefix, which is what a power cut leaves of unsynced writes.
final class RocksDBLogEngine: OrderedLogEngine {
    static let hardStateKey = Bytes("hard".utf8)
    static let compactionKey = Bytes("compaction".utf8)

    private let database: RocksDBDatabase
    private let log: RocksDBDatabase.Family
    private let meta: RocksDBDatabase.Family

    init(directory: String, sync: Bool, settings: RocksDBSettings) throws {
        let recovery = sync
            ? Int32(rocksdb_tolerate_corrupted_tail_records_recovery)
            : Int32(rocksdb_point_in_time_recovery)
        database = try RocksDBDatabase(
            directory: directory, sync: sync, settings: settings, families: ["log", "hard_state"], recovery: recovery)
        let families = RocksDBDatabase.families(2)
        log = families[0]
        meta = families[1]
    }

    var path: String { database.directory }
    var syncCount: UInt64 { database.syncs.value }

    func record(_ kind: LogMetaRecord) throws -> Bytes? {
        try database.get(meta, kind == .hardState ? Self.hardStateKey : Self.compactionKey)
    }

    func entryIndexes() throws -> (first: UInt64, last: UInt64)? {
        var firstKey: Bytes?
        try database.scan(log, from: []) { pair in
            firstKey = pair.key
            return false
        }
        guard let firstKey else { return nil }
        guard let first = UInt64(bigEndianBytes: firstKey),
            let lastKey = try database.last(log)?.key,
            let last = UInt64(bigEndianBytes: lastKey)
        else {
            throw StorageError.corrupted(path: path, reason: "log key is not an 8-byte index")
        }
        return (first, last)
    }

    func scanEntries(_ range: ClosedRange<UInt64>, _ visit: (UInt64?, Bytes) throws -> Bool) throws {
        try database.scan(log, from: range.lowerBound.bigEndianBytes) { pair in
            try visit(UInt64(bigEndianBytes: pair.key), pair.value)
        }
    }

    /// A truncated suffix or a compacted prefix (a write without entries)
    /// goes with one range tombstone, whatever its length; what an append
    /// leaves past its new end, key by key.
    func write(_ batch: LogWriteBatch) throws {
        try database.write { writeBatch in
            if batch.entries.isEmpty {
                if !batch.deleted.isEmpty {
                    writeBatch.deleteRange(
                        log, from: batch.deleted.lowerBound.bigEndianBytes, to: batch.deleted.upperBound.bigEndianBytes)
                }
            } else {
                for index in batch.deleted { writeBatch.delete(log, index.bigEndianBytes) }
            }
            for (index, record) in batch.entries { writeBatch.put(log, index.bigEndianBytes, record) }
            if let hardState = batch.hardState { writeBatch.put(meta, Self.hardStateKey, hardState) }
            if let point = batch.compactionPoint { writeBatch.put(meta, Self.compactionKey, point) }
        }
    }

    func close() throws { try database.close() }
}
