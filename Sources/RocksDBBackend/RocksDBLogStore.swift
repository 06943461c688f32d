import CRocksDB
import StorageCore
import Synchronization

/// The Raft log in one RocksDB database: column family `log` holds each
/// entry under its 8-byte big-endian index (key order is index order), and
/// `hard_state` holds the hard state and the compaction point. Every mutating
/// call is a single WriteBatch across both, so an append of 64 entries plus a
/// hard state is one atomic WAL record and, with sync on, one sync.
///
/// # Where it syncs
/// In `rocksdb_write` with sync=1, once per mutating call: an fdatasync of the
/// WAL (see `RocksDBDatabase`), counted as 1. The WAL is replayed at open in
/// RocksDB's "tolerate corrupted tail records" mode when sync is on: only a
/// record torn by a crash (never acknowledged) may be dropped, and damage
/// anywhere else fails the open with `.corrupted` instead of silently ending
/// the log early. With sync off, "point in time" recovery keeps the longest
/// intact prefix, which is what a power cut leaves of unsynced writes.
final class RocksDBLogStore: LogStore {
    static let hardStateKey = Bytes("hard".utf8)
    static let compactionKey = Bytes("compaction".utf8)

    private let database: RocksDBDatabase
    private let log: RocksDBDatabase.Family
    private let meta: RocksDBDatabase.Family
    /// Cached so bounds checks need no read; nil once closed. Held only for a moment.
    private let bounds: Mutex<LogBounds?>
    /// Serialises mutating calls. Held across the engine write and its
    /// fsync, while `bounds` is only ever held for a moment, so a reader
    /// never waits for a write to reach the disk.
    private let writer = Mutex(())

    init(directory: String, sync: Bool, settings: RocksDBSettings) throws {
        let recovery = sync
            ? Int32(rocksdb_tolerate_corrupted_tail_records_recovery)
            : Int32(rocksdb_point_in_time_recovery)
        let database = try RocksDBDatabase(
            directory: directory, sync: sync, settings: settings, families: ["log", "hard_state"], recovery: recovery)
        let families = RocksDBDatabase.families(2)
        log = families[0]
        meta = families[1]
        do {
            self.bounds = Mutex(try RocksDBLogStore.loadBounds(database, log: log, meta: meta))
            self.database = database
        } catch {
            try? database.close()
            throw error
        }
    }

    /// Reads the compaction point and the first and last entry keys, and
    /// checks that the first entry follows the compaction point.
    private static func loadBounds(
        _ database: RocksDBDatabase, log: RocksDBDatabase.Family, meta: RocksDBDatabase.Family
    ) throws -> LogBounds {
        let path = database.directory
        let snapshot = try database.get(meta, compactionKey).map {
            try PositionCodec.decode($0, source: "\(path) (compaction point)")
        } ?? .zero
        var firstKey: Bytes?
        try database.scan(log, from: []) { pair in
            firstKey = pair.key
            return false
        }
        guard let firstKey else { return LogBounds(snapshot: snapshot, last: snapshot.index) }
        guard let first = UInt64(bigEndianBytes: firstKey),
            let lastKey = try database.last(log)?.key,
            let last = UInt64(bigEndianBytes: lastKey)
        else {
            throw StorageError.corrupted(path: path, reason: "log key is not an 8-byte index")
        }
        guard first == snapshot.index + 1, last >= first else {
            throw StorageError.corrupted(
                path: path, reason: "log starts at \(first) but the compaction point is \(snapshot.index)")
        }
        return LogBounds(snapshot: snapshot, last: last)
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
        guard let entry = try entries(index...index, maxBytes: .max).first else {
            throw StorageError.corrupted(path: database.directory, reason: "log entry \(index) is missing")
        }
        return entry.term
    }

    func entries(_ range: ClosedRange<UInt64>, maxBytes: Int) throws -> [LogEntry] {
        try current().check(range)
        let path = database.directory
        var collector = EntryCollector(range: range, maxBytes: maxBytes)
        try database.scan(log, from: range.lowerBound.bigEndianBytes) { pair in
            guard let expected = collector.expected, UInt64(bigEndianBytes: pair.key) == expected else { return false }
            let entry = try LogEntryCodec.decode(pair.value, source: "\(path) (log entry \(expected))")
            return try collector.add(entry, path: path)
        }
        // The scan stops early only when an index is missing.
        if let missing = collector.expected {
            throw explain(MissingEntry(index: missing), reading: range)
        }
        return collector.entries
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
        return .corrupted(path: database.directory, reason: "log entry \(missing.index) is missing")
    }

    func append(_ entries: [LogEntry], hardState: HardState?) throws {
        try writer.withLock { _ in
            let current = try current()
            let plan = try current.planAppend(entries)
            try database.write { batch in
                for index in plan?.obsolete ?? 0..<0 { batch.delete(log, index.bigEndianBytes) }
                for entry in entries { batch.put(log, entry.index.bigEndianBytes, LogEntryCodec.encode(entry)) }
                if let hardState { batch.put(meta, Self.hardStateKey, HardStateCodec.encode(hardState)) }
            }
            if let plan { bounds.withLock { $0?.last = plan.newLast } }
        }
    }

    func truncateSuffix(after index: UInt64) throws {
        try writer.withLock { _ in
            let current = try current()
            guard let doomed = try current.planTruncate(after: index) else { return }
            try database.write { batch in
                batch.deleteRange(log, from: doomed.lowerBound.bigEndianBytes, to: doomed.upperBound.bigEndianBytes)
            }
            bounds.withLock { $0?.last = index }
        }
    }

    /// The compacted prefix goes with one range tombstone, whatever its length.
    func compact(through index: UInt64, term: UInt64) throws {
        try writer.withLock { _ in
            let current = try current()
            guard let plan = try current.planCompact(through: index, term: term) else { return }
            try database.write { batch in
                if !plan.dropped.isEmpty {
                    batch.deleteRange(log, from: plan.dropped.lowerBound.bigEndianBytes, to: plan.dropped.upperBound.bigEndianBytes)
                }
                batch.put(meta, Self.compactionKey, PositionCodec.encode(plan.bounds.snapshot))
            }
            bounds.withLock { if $0 != nil { $0 = plan.bounds } }
        }
    }

    func hardState() throws -> HardState {
        _ = try current()
        let path = database.directory
        return try database.get(meta, Self.hardStateKey).map {
            try HardStateCodec.decode($0, source: "\(path) (hard state)")
        } ?? .initial
    }

    var syncCount: UInt64 { database.syncs.value }

    func close() throws {
        try writer.withLock { _ in
            bounds.withLock { $0 = nil }
            try database.close()
        }
    }
}
