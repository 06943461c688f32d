import StorageCore

/// What a snapshot stands for: the state after applying every entry through
/// `index`, and the membership in force at that point. The data itself travels
/// outside the core (see `SnapshotStream`).
public struct SnapshotMetadata: Sendable, Hashable {
    public var index: UInt64
    public var term: UInt64
    public var configuration: ClusterConfiguration

    public init(index: UInt64, term: UInt64, configuration: ClusterConfiguration) {
        self.index = index
        self.term = term
        self.configuration = configuration
    }
}

/// Entries (and possibly a snapshot) the core holds in memory because they are
/// not yet durable. Everything below `offset` is in the `LogStore` and synced.
struct UnstableLog {
    var snapshot: SnapshotMetadata?
    var entries: [LogEntry] = []
    var offset: UInt64

    /// Term of `index` if this part of the log knows it.
    func term(at index: UInt64) -> UInt64? {
        if let snapshot, index == snapshot.index { return snapshot.term }
        guard index >= offset else { return nil }
        let position = Int(index - offset)
        return position < entries.count ? entries[position].term : nil
    }

    mutating func truncateAndAppend(_ new: [LogEntry]) {
        guard let first = new.first else { return }
        let after = first.index
        if after == offset + UInt64(entries.count) {
            entries.append(contentsOf: new)
        } else if after <= offset {
            // Replaces everything from `after` on, including entries already in
            // the store: the next persist overwrites them there too.
            offset = after
            entries = new
        } else {
            entries = Array(entries[0..<Int(after - offset)]) + new
        }
    }

    /// The entries through `index` (with `term`) reached the store; returns them.
    @discardableResult
    mutating func stableTo(index: UInt64, term: UInt64) -> ArraySlice<LogEntry> {
        guard let have = self.term(at: index), have == term, index >= offset else { return [] }
        let count = Int(index - offset + 1)
        let stable = entries[..<count]
        entries.removeFirst(count)
        offset = index + 1
        return stable
    }

    mutating func stableSnapshot(at index: UInt64) {
        if snapshot?.index == index { snapshot = nil }
    }
}

/// The entries that most recently reached the store, kept in memory because
/// they are the ones replication and apply read next: a leader streams them
/// to followers and hands them out once committed. Contiguous, bounded in
/// count and bytes, oldest dropped first.
struct RecentEntries {
    private(set) var entries: [LogEntry] = []
    private var start = 0
    private var bytes = 0
    let maxEntries: Int
    let maxBytes: Int

    init(maxEntries: Int = 4096, maxBytes: Int = 8 << 20) {
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
    }

    private var firstIndex: UInt64? { start < entries.count ? entries[start].index : nil }

    func entry(at index: UInt64) -> LogEntry? {
        guard let first = firstIndex, index >= first else { return nil }
        let position = start + Int(index - first)
        return position < entries.count ? entries[position] : nil
    }

    /// Entries `range` if all of them are here.
    func entries(_ range: ClosedRange<UInt64>) -> ArraySlice<LogEntry>? {
        guard let first = firstIndex, range.lowerBound >= first else { return nil }
        let lower = start + Int(range.lowerBound - first)
        let upper = start + Int(range.upperBound - first)
        return upper < entries.count ? entries[lower...upper] : nil
    }

    mutating func append(_ new: ArraySlice<LogEntry>) {
        guard let next = new.first else { return }
        if let last = entries.last, last.index + 1 != next.index { clear() }
        for entry in new {
            entries.append(entry)
            bytes += entry.data.count
        }
        while entries.count - start > maxEntries || (bytes > maxBytes && entries.count - start > 1) {
            bytes -= entries[start].data.count
            start += 1
        }
        if start > 1024 && start * 2 > entries.count {
            entries.removeFirst(start)
            start = 0
        }
    }

    /// Forgets the entries from `index` on (they are being replaced).
    mutating func truncate(from index: UInt64) {
        guard let first = firstIndex else { return }
        guard index > first else { return clear() }
        let keep = start + Int(index - first)
        guard keep < entries.count else { return }
        for entry in entries[keep...] { bytes -= entry.data.count }
        entries.removeSubrange(keep...)
    }

    mutating func clear() {
        entries = []
        start = 0
        bytes = 0
    }
}

/// The core's view of the log: the durable `LogStore` (read only; the caller
/// writes it from `Ready`) with the unstable tail on top, plus the commit and
/// apply positions.
struct RaftLog {
    let storage: any LogStore
    var unstable: UnstableLog
    /// Recently persisted entries, read from memory instead of the store.
    var recent = RecentEntries()
    /// Highest index known committed.
    var committed: UInt64
    /// Highest index handed to the application (in an acknowledged `Ready`).
    var applied: UInt64

    init(storage: any LogStore) throws {
        self.storage = storage
        let first = try storage.firstIndex()
        let last = try storage.lastIndex()
        unstable = UnstableLog(offset: last + 1)
        committed = first - 1
        applied = first - 1
    }

    func firstIndex() throws -> UInt64 {
        if let snapshot = unstable.snapshot { return snapshot.index + 1 }
        return try storage.firstIndex()
    }

    func lastIndex() throws -> UInt64 {
        if let last = unstable.entries.last { return last.index }
        if let snapshot = unstable.snapshot { return snapshot.index }
        return try storage.lastIndex()
    }

    /// The highest index durable in the store that is also part of this log.
    var persistedIndex: UInt64 {
        unstable.snapshot == nil ? unstable.offset - 1 : 0
    }

    /// Term of the entry at `index`, or nil when it is compacted or beyond the end.
    func term(at index: UInt64) throws -> UInt64? {
        if let term = unstable.term(at: index) { return term }
        if index >= unstable.offset || unstable.snapshot != nil { return nil }
        if let entry = recent.entry(at: index) { return entry.term }
        do {
            return try storage.term(at: index)
        } catch let error as StorageError {
            switch error {
            case .compacted, .unavailable: return nil
            default: throw error
            }
        }
    }

    func lastTerm() throws -> UInt64 {
        try term(at: try lastIndex()) ?? 0
    }

    func matchTerm(_ index: UInt64, _ term: UInt64) throws -> Bool {
        try self.term(at: index) == term
    }

    func isUpToDate(lastIndex index: UInt64, term: UInt64) throws -> Bool {
        let ourTerm = try lastTerm()
        let ourIndex = try lastIndex()
        return term > ourTerm || (term == ourTerm && index >= ourIndex)
    }

    /// Entries `range`, stopping after `maxBytes` of payload (at least one entry).
    /// Throws `StorageError.compacted` when the range starts before the log.
    func entries(_ range: ClosedRange<UInt64>, maxBytes: Int) throws -> [LogEntry] {
        let first = try firstIndex()
        guard range.lowerBound >= first else {
            throw StorageError.compacted(index: range.lowerBound, firstIndex: first)
        }
        let last = try lastIndex()
        guard range.upperBound <= last else {
            throw StorageError.unavailable(index: range.upperBound, lastIndex: last)
        }
        var result: [LogEntry] = []
        var bytes = 0
        if range.lowerBound < unstable.offset {
            let upper = min(range.upperBound, unstable.offset - 1)
            if let cached = recent.entries(range.lowerBound...upper) {
                for entry in cached {
                    if !result.isEmpty && bytes + entry.data.count > maxBytes { return result }
                    bytes += entry.data.count
                    result.append(entry)
                }
            } else {
                result = try storage.entries(range.lowerBound...upper, maxBytes: maxBytes)
                bytes = result.reduce(0) { $0 + $1.data.count }
            }
            // The store stopped early: the size limit is reached.
            if result.last.map({ $0.index < upper }) ?? true { return result }
        }
        if range.upperBound >= unstable.offset {
            let lower = max(range.lowerBound, unstable.offset)
            for position in Int(lower - unstable.offset)...Int(range.upperBound - unstable.offset) {
                let entry = unstable.entries[position]
                if !result.isEmpty && bytes + entry.data.count > maxBytes { break }
                bytes += entry.data.count
                result.append(entry)
            }
        }
        return result
    }

    /// Appends entries from the leader after the entry (`index`, `logTerm`) if
    /// the log holds that entry; returns the last index of the new entries.
    mutating func maybeAppend(index: UInt64, logTerm: UInt64, committed leaderCommit: UInt64, entries: [LogEntry]) throws -> UInt64? {
        guard try matchTerm(index, logTerm) else { return nil }
        let lastNew = index + UInt64(entries.count)
        let conflict = try findConflict(entries)
        if conflict != 0 {
            guard conflict > committed else {
                throw RaftError.protocolViolation("entry \(conflict) conflicts with the committed log (commit \(committed))")
            }
            append(Array(entries[Int(conflict - index - 1)...]))
        }
        try commit(to: min(leaderCommit, lastNew))
        return lastNew
    }

    /// The first entry whose term differs from ours (or is beyond our log), or 0.
    func findConflict(_ entries: [LogEntry]) throws -> UInt64 {
        for entry in entries where !(try matchTerm(entry.index, entry.term)) {
            return entry.index
        }
        return 0
    }

    /// The largest index at or below `index` whose term is at most `term`, and
    /// that term (etcd's fast log backtracking).
    func findConflictByTerm(index: UInt64, term: UInt64) throws -> (index: UInt64, term: UInt64) {
        var index = index
        while index > 0 {
            guard let ourTerm = try self.term(at: index) else { return (index, 0) }
            if ourTerm <= term { return (index, ourTerm) }
            index -= 1
        }
        return (0, 0)
    }

    @discardableResult
    mutating func append(_ entries: [LogEntry]) -> UInt64 {
        if let first = entries.first { recent.truncate(from: first.index) }
        unstable.truncateAndAppend(entries)
        return entries.last?.index ?? 0
    }

    /// The entries through `index` (with `term`) are durable in the store.
    mutating func stableTo(index: UInt64, term: UInt64) {
        recent.append(unstable.stableTo(index: index, term: term))
    }

    mutating func commit(to index: UInt64) throws {
        guard index > committed else { return }
        let last = try lastIndex()
        guard index <= last else {
            throw RaftError.protocolViolation("commit \(index) is beyond the last log index \(last)")
        }
        committed = index
    }

    /// Committed entries not yet handed to the application, at most `maxBytes`.
    func nextCommittedEntries(maxBytes: Int) throws -> [LogEntry] {
        guard unstable.snapshot == nil, applied < committed else { return [] }
        return try entries((applied + 1)...committed, maxBytes: maxBytes)
    }

    mutating func restore(_ snapshot: SnapshotMetadata) {
        committed = snapshot.index
        unstable = UnstableLog(snapshot: snapshot, entries: [], offset: snapshot.index + 1)
        recent.clear()
    }
}
