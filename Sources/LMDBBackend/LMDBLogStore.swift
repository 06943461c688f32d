import CLMDB
import StorageCore
import Synchronization

/// The Raft log in one LMDB environment, in two named databases:
/// "log" maps an 8-byte big-endian index (so key order is index order) to the
/// `LogEntryCodec` record, and "hardstate" holds the hard state and the
/// compaction point. Every mutating call is one write transaction, which is
/// what makes an append and its hard state atomic.
///
/// # Where it syncs
/// At the commit of each mutating call (see `LMDBEnvironment`): with `sync` on,
/// an fdatasync of data.mdb plus an O_DSYNC write of the meta page, counted as
/// 2 syncs, so 64 appended entries and a hard state cost one commit.
final class LMDBLogStore: LogStore {
    static let hardStateKey = Array("hard".utf8)
    static let compactionKey = Array("compaction".utf8)

    private let environment: LMDBEnvironment
    private let log: MDB_dbi
    private let meta: MDB_dbi
    /// Cached so bounds checks need no transaction; nil once closed.
    private let bounds: Mutex<LogBounds?>
    /// Serialises mutating calls. Held across the engine write and its
    /// fsync, while `bounds` is only ever held for a moment, so a reader
    /// never waits for a write to reach the disk.
    private let writer = Mutex(())

    init(directory: String, mapSize: Int, sync: Bool) throws {
        let environment = try LMDBEnvironment(directory: directory, mapSize: mapSize, sync: sync, maxDatabases: 2)
        do {
            let (log, meta) = try environment.write { txn in
                (try txn.openDatabase("log"), try txn.openDatabase("hardstate"))
            }
            let loaded = try environment.read { txn in
                try LMDBLogStore.loadBounds(txn, log: log, meta: meta, path: environment.dataPath)
            }
            self.environment = environment
            self.log = log
            self.meta = meta
            self.bounds = Mutex(loaded)
        } catch {
            try? environment.close()
            throw error
        }
    }

    /// Reads the compaction point and the last key, and checks that the first
    /// key follows the compaction point: a gap there means lost entries.
    private static func loadBounds(_ txn: LMDBTransaction, log: MDB_dbi, meta: MDB_dbi, path: String) throws -> LogBounds {
        let snapshot = try txn.get(meta, compactionKey).map {
            try PositionCodec.decode($0, source: "\(path) (compaction point)")
        } ?? .zero
        return try txn.withCursor(log) { cursor in
            guard let first = try cursor.first() else {
                return LogBounds(snapshot: snapshot, last: snapshot.index)
            }
            guard let last = try cursor.last(),
                let firstIndex = UInt64(bigEndianBytes: first.key),
                let lastIndex = UInt64(bigEndianBytes: last.key)
            else {
                throw StorageError.corrupted(path: path, reason: "log key is not an 8-byte index")
            }
            guard firstIndex == snapshot.index + 1, lastIndex >= firstIndex else {
                throw StorageError.corrupted(
                    path: path,
                    reason: "log starts at \(firstIndex) but the compaction point is \(snapshot.index)")
            }
            return LogBounds(snapshot: snapshot, last: lastIndex)
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
        let bounds = try current()
        if let known = try bounds.knownTerm(at: index) { return known }
        guard let entry = try entries(index...index, maxBytes: .max).first else {
            throw StorageError.corrupted(path: environment.dataPath, reason: "log entry \(index) is missing")
        }
        return entry.term
    }

    func entries(_ range: ClosedRange<UInt64>, maxBytes: Int) throws -> [LogEntry] {
        try current().check(range)
        let path = environment.dataPath
        do {
            return try environment.read { txn in
                try txn.withCursor(log) { cursor in
                    var collector = EntryCollector(range: range, maxBytes: maxBytes)
                    var pair = try cursor.seek(range.lowerBound.bigEndianBytes)
                    while let expected = collector.expected {
                        guard let found = pair, UInt64(bigEndianBytes: found.key) == expected else {
                            throw MissingEntry(index: expected)
                        }
                        let entry = try LogEntryCodec.decode(found.value, source: "\(path) (log entry \(expected))")
                        guard try collector.add(entry, path: path) else { break }
                        pair = try cursor.next()
                    }
                    return collector.entries
                }
            }
        } catch let missing as MissingEntry {
            throw explain(missing, reading: range)
        }
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
        return .corrupted(path: environment.dataPath, reason: "log entry \(missing.index) is missing")
    }

    func append(_ entries: [LogEntry], hardState: HardState?) throws {
        try writer.withLock { _ in
            let current = try current()
            guard let plan = try current.planAppend(entries) else {
                // No entries: a hard state on its own, still one commit.
                guard let hardState else { return }
                try environment.write { txn in
                    try txn.put(meta, LMDBLogStore.hardStateKey, HardStateCodec.encode(hardState))
                }
                return
            }
            try environment.write { txn in
                for index in plan.obsolete { try txn.delete(log, index.bigEndianBytes) }
                for entry in entries {
                    try txn.put(
                        log, entry.index.bigEndianBytes, LogEntryCodec.encode(entry), append: entry.index > current.last)
                }
                if let hardState { try txn.put(meta, LMDBLogStore.hardStateKey, HardStateCodec.encode(hardState)) }
            }
            bounds.withLock { $0?.last = plan.newLast }
        }
    }

    func truncateSuffix(after index: UInt64) throws {
        try writer.withLock { _ in
            let current = try current()
            guard let doomed = try current.planTruncate(after: index) else { return }
            try environment.write { txn in
                for index in doomed { try txn.delete(log, index.bigEndianBytes) }
            }
            bounds.withLock { $0?.last = index }
        }
    }

    func compact(through index: UInt64, term: UInt64) throws {
        try writer.withLock { _ in
            let current = try current()
            guard let plan = try current.planCompact(through: index, term: term) else { return }
            try environment.write { txn in
                for index in plan.dropped { try txn.delete(log, index.bigEndianBytes) }
                try txn.put(meta, LMDBLogStore.compactionKey, PositionCodec.encode(plan.bounds.snapshot))
            }
            bounds.withLock { if $0 != nil { $0 = plan.bounds } }
        }
    }

    func hardState() throws -> HardState {
        _ = try current()
        let path = environment.dataPath
        return try environment.read { txn in
            try txn.get(meta, LMDBLogStore.hardStateKey).map {
                try HardStateCodec.decode($0, source: "\(path) (hard state)")
            } ?? .initial
        }
    }

    var syncCount: UInt64 { environment.syncs.value }

    func close() throws {
        try writer.withLock { _ in
            bounds.withLock { $0 = nil }
            try environment.close()
        }
    }
}

extension LMDBEnvironment {
    var dataPath: String { directory + "/data.mdb" }
}
