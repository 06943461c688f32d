import Synchronization

/// What a log store needs of an ordered key-value engine (LMDB, LevelDB,
/// RocksDB, SQLite): where the entries and the two metadata records live,
/// reads of them, one atomic write, and close. The engine owns its key
/// layout and its syncs; `KeyValueLogStore` owns every `LogStore` rule.
public protocol OrderedLogEngine: AnyObject, Sendable {
    /// The file or directory named in errors ("\(path) (log entry 5)").
    var path: String { get }

    /// Syncs the engine has issued (see each backend's "Where it syncs").
    var syncCount: UInt64 { get }

    /// The stored record of `kind`, nil when it was never written.
    func record(_ kind: LogMetaRecord) throws -> Bytes?

    /// The lowest and highest stored entry index, nil when no entry is
    /// stored. Throws `.corrupted` for a key that is not an entry index.
    func entryIndexes() throws -> (first: UInt64, last: UInt64)?

    /// Visits stored entries in index order, from the first at or after
    /// `range.lowerBound`, while `visit` returns true. `index` is nil for a
    /// stored key that is not an entry index. An engine may stop after
    /// `range.upperBound`; the caller stops there anyway.
    func scanEntries(_ range: ClosedRange<UInt64>, _ visit: (_ index: UInt64?, _ record: Bytes) throws -> Bool) throws

    /// Applies `batch` in one atomic step, durable on return when the store
    /// syncs. Never called with an empty batch.
    func write(_ batch: LogWriteBatch) throws

    /// Releases the engine; later calls throw `.closed`.
    func close() throws
}

/// The two records a log store keeps beside its entries.
public enum LogMetaRecord: Sendable {
    /// `HardStateCodec`'s record of the hard state.
    case hardState
    /// `PositionCodec`'s record of the compaction point.
    case compactionPoint
}

/// One mutating `LogStore` call, as its engine writes it: all of it or none.
public struct LogWriteBatch: Sendable {
    /// `LogEntryCodec` records to put, at consecutive indexes.
    public var entries: [(index: UInt64, record: Bytes)] = []
    /// Stored entries to delete: what an append leaves past its new end, a
    /// truncated suffix (no `entries`), or a compacted prefix (with a
    /// `compactionPoint`). Empty when none.
    public var deleted: Range<UInt64>
    /// The last index before this write: an entry at or below it replaces a
    /// stored one, an entry above it goes after every stored key.
    public var previousLast: UInt64
    /// `HardStateCodec`'s record, when the call saves a hard state.
    public var hardState: Bytes?
    /// `PositionCodec`'s record, when the call compacts.
    public var compactionPoint: Bytes?

    public var isEmpty: Bool { entries.isEmpty && deleted.isEmpty && hardState == nil && compactionPoint == nil }
}

/// The Raft log on an ordered key-value engine: the `LogStore` rules
/// (`LogBounds`, `LogAppendRules`, `EntryCollector`) in one place, over the
/// engine's key layout and atomic write.
///
/// The log's extent is cached in memory, so bounds checks need no read.
/// Mutating calls are serialised on `writer`, held across the engine write
/// and its sync, while `bounds` is only ever held for a moment: a reader never
/// waits for a write to reach the disk, and a write publishes its new bounds
/// once it is durable. Every mutating call is one `engine.write`, so an
/// append and its hard state cost one sync; a call that changes nothing
/// writes nothing.
public final class KeyValueLogStore<Engine: OrderedLogEngine>: LogStore {
    public let engine: Engine
    /// nil once closed.
    private let bounds: Mutex<LogBounds?>
    private let writer = Mutex(())

    /// Reads the engine's bounds; closes the engine when they are damaged.
    public init(engine: Engine) throws {
        self.engine = engine
        do {
            bounds = Mutex(try Self.loadBounds(engine))
        } catch {
            try? engine.close()
            throw error
        }
    }

    /// Reads the compaction point and the first and last entry index, and
    /// checks that the first entry follows the compaction point: a gap there
    /// means lost entries.
    private static func loadBounds(_ engine: Engine) throws -> LogBounds {
        let path = engine.path
        let snapshot = try engine.record(.compactionPoint).map {
            try PositionCodec.decode($0, source: "\(path) (compaction point)")
        } ?? .zero
        guard let stored = try engine.entryIndexes() else {
            return LogBounds(snapshot: snapshot, last: snapshot.index)
        }
        guard stored.first == snapshot.index + 1, stored.last >= stored.first else {
            throw StorageError.corrupted(
                path: path, reason: "log starts at \(stored.first) but the compaction point is \(snapshot.index)")
        }
        return LogBounds(snapshot: snapshot, last: stored.last)
    }

    private func current() throws -> LogBounds {
        guard let current = bounds.withLock({ $0 }) else { throw StorageError.closed }
        return current
    }

    public func snapshotIndex() throws -> UInt64 { try current().snapshot.index }
    public func firstIndex() throws -> UInt64 { try current().first }
    public func lastIndex() throws -> UInt64 { try current().last }

    public func term(at index: UInt64) throws -> UInt64 {
        if let known = try current().knownTerm(at: index) { return known }
        guard let entry = try entries(index...index, maxBytes: .max).first else {
            throw StorageError.corrupted(path: engine.path, reason: "log entry \(index) is missing")
        }
        return entry.term
    }

    public func entries(_ range: ClosedRange<UInt64>, maxBytes: Int) throws -> [LogEntry] {
        try current().check(range)
        let path = engine.path
        var collector = EntryCollector(range: range, maxBytes: maxBytes)
        try engine.scanEntries(range) { index, record in
            guard let expected = collector.expected, index == expected else { return false }
            let entry = try LogEntryCodec.decode(record, source: "\(path) (log entry \(expected))")
            return try collector.add(entry, path: path)
        }
        // The scan stops early only when an index is missing.
        if let missing = collector.expected { throw explain(missing: missing, reading: range) }
        return collector.entries
    }

    /// An entry of `range` was not there although the bounds promised it: a
    /// compaction or truncation that committed meanwhile explains that, with
    /// the typed error it calls for; otherwise the log is damaged.
    private func explain(missing index: UInt64, reading range: ClosedRange<UInt64>) -> StorageError {
        writer.withLock { _ in }  // a write in flight publishes its bounds when done
        do {
            try current().check(range)
        } catch let error as StorageError {
            return error
        } catch {}
        return .corrupted(path: engine.path, reason: "log entry \(index) is missing")
    }

    public func append(_ entries: [LogEntry], hardState: HardState?) throws {
        try writer.withLock { _ in
            let current = try current()
            let plan = try current.planAppend(entries)
            let batch = LogWriteBatch(
                entries: entries.map { (index: $0.index, record: LogEntryCodec.encode($0)) },
                deleted: plan?.obsolete ?? current.last..<current.last, previousLast: current.last,
                hardState: hardState.map(HardStateCodec.encode))
            guard !batch.isEmpty else { return }
            try engine.write(batch)
            if let plan { bounds.withLock { $0?.last = plan.newLast } }
        }
    }

    public func truncateSuffix(after index: UInt64) throws {
        try writer.withLock { _ in
            let current = try current()
            guard let doomed = try current.planTruncate(after: index) else { return }
            try engine.write(LogWriteBatch(deleted: doomed, previousLast: current.last))
            bounds.withLock { $0?.last = index }
        }
    }

    public func compact(through index: UInt64, term: UInt64) throws {
        try writer.withLock { _ in
            let current = try current()
            guard let plan = try current.planCompact(through: index, term: term) else { return }
            try engine.write(LogWriteBatch(
                deleted: plan.dropped, previousLast: current.last,
                compactionPoint: PositionCodec.encode(plan.bounds.snapshot)))
            bounds.withLock { if $0 != nil { $0 = plan.bounds } }
        }
    }

    public func hardState() throws -> HardState {
        _ = try current()
        let path = engine.path
        return try engine.record(.hardState).map {
            try HardStateCodec.decode($0, source: "\(path) (hard state)")
        } ?? .initial
    }

    public var syncCount: UInt64 { engine.syncCount }

    public func close() throws {
        try writer.withLock { _ in
            bounds.withLock { $0 = nil }
            try engine.close()
        }
    }
}
