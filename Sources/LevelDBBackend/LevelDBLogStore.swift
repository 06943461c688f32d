import StorageCore
import Synchronization

/// The Raft log in one LevelDB database (key layout in `LevelDBKeys`). Every
/// mutating call is a single WriteBatch, so an append of 64 entries plus a
/// hard state is one atomic log record and, with sync on, one sync.
///
/// # Where it syncs
/// In `leveldb_write` with sync=1, once per mutating call: an fdatasync of the
/// current .log file (see `LevelDBDatabase`), counted as 1.
final class LevelDBLogStore: LogStore {
    private let database: LevelDBDatabase
    /// Cached so bounds checks need no read; nil once closed.
    private let bounds: Mutex<LogBounds?>
    /// Serialises mutating calls. Held across the engine write and its
    /// fsync, while `bounds` is only ever held for a moment, so a reader
    /// never waits for a write to reach the disk.
    private let writer = Mutex(())

    init(directory: String, sync: Bool, settings: LevelDBSettings) throws {
        let database = try LevelDBDatabase(directory: directory, sync: sync, settings: settings)
        do {
            self.bounds = Mutex(try LevelDBLogStore.loadBounds(database))
            self.database = database
        } catch {
            try? database.close()
            throw error
        }
    }

    /// Reads the compaction point and the first and last entry keys, and
    /// checks that the first entry follows the compaction point.
    private static func loadBounds(_ database: LevelDBDatabase) throws -> LogBounds {
        let path = database.directory
        let snapshot = try database.get(LevelDBKeys.compaction).map {
            try PositionCodec.decode($0, source: "\(path) (compaction point)")
        } ?? .zero
        var firstKey: Bytes?
        try database.scan(from: [LevelDBKeys.data]) { pair in
            firstKey = pair.key
            return false
        }
        guard let firstKey else { return LogBounds(snapshot: snapshot, last: snapshot.index) }
        guard let first = LevelDBKeys.index(ofEntry: firstKey),
            let lastKey = try database.last(before: LevelDBKeys.dataEnd)?.key,
            let last = LevelDBKeys.index(ofEntry: lastKey)
        else {
            throw StorageError.corrupted(path: path, reason: "log key is not a namespace byte and an 8-byte index")
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
        try database.scan(from: LevelDBKeys.entry(range.lowerBound)) { pair in
            guard let expected = collector.expected, LevelDBKeys.index(ofEntry: pair.key) == expected else {
                return false
            }
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
            let batch = LevelDBBatch()
            for index in plan?.obsolete ?? 0..<0 { batch.delete(LevelDBKeys.entry(index)) }
            for entry in entries { batch.put(LevelDBKeys.entry(entry.index), LogEntryCodec.encode(entry)) }
            if let hardState { batch.put(LevelDBKeys.hardState, HardStateCodec.encode(hardState)) }
            try database.write(batch)
            if let plan { bounds.withLock { $0?.last = plan.newLast } }
        }
    }

    func truncateSuffix(after index: UInt64) throws {
        try writer.withLock { _ in
            let current = try current()
            guard let doomed = try current.planTruncate(after: index) else { return }
            let batch = LevelDBBatch()
            for index in doomed { batch.delete(LevelDBKeys.entry(index)) }
            try database.write(batch)
            bounds.withLock { $0?.last = index }
        }
    }

    func compact(through index: UInt64, term: UInt64) throws {
        try writer.withLock { _ in
            let current = try current()
            guard let plan = try current.planCompact(through: index, term: term) else { return }
            let batch = LevelDBBatch()
            for index in plan.dropped { batch.delete(LevelDBKeys.entry(index)) }
            batch.put(LevelDBKeys.compaction, PositionCodec.encode(plan.bounds.snapshot))
            try database.write(batch)
            bounds.withLock { if $0 != nil { $0 = plan.bounds } }
        }
    }

    func hardState() throws -> HardState {
        _ = try current()
        let path = database.directory
        return try database.get(LevelDBKeys.hardState).map {
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
