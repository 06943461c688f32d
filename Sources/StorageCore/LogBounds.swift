/// Shared by the log stores (`KeyValueLogStore`, wal): the extent of the log
/// (compaction point and last index), cached in memory so bounds checks need
/// no read, and the `LogStore` rules that depend only on it. Every rule is
/// checked here before any write begins, so a refused call never leaves a
/// half-built transaction behind.
public struct LogBounds: Sendable, Equatable {
    /// Index and term of the last compacted entry.
    public var snapshot: AppliedPosition
    public var last: UInt64

    public init(snapshot: AppliedPosition, last: UInt64) {
        self.snapshot = snapshot
        self.last = last
    }

    /// Never overflows: appends and compactions refuse index `UInt64.max`.
    public var first: UInt64 { snapshot.index + 1 }

    /// The term of `index` when it is known without reading an entry (the
    /// compaction point), nil when the entry must be read, or the error for an
    /// index outside `snapshotIndex...lastIndex`.
    public func knownTerm(at index: UInt64) throws -> UInt64? {
        if index == snapshot.index { return snapshot.term }
        if index < snapshot.index { throw StorageError.compacted(index: index, firstIndex: first) }
        if index > last { throw StorageError.unavailable(index: index, lastIndex: last) }
        return nil
    }

    public func check(_ range: ClosedRange<UInt64>) throws {
        if range.lowerBound < first { throw StorageError.compacted(index: range.lowerBound, firstIndex: first) }
        if range.upperBound > last { throw StorageError.unavailable(index: range.upperBound, lastIndex: last) }
    }

    public struct AppendPlan: Sendable {
        /// Old entries past the new end, which an overwrite would not replace.
        public var obsolete: Range<UInt64>
        public var newLast: UInt64
    }

    /// Checks an append; nil when there are no entries. Index `UInt64.max` is
    /// refused first, so no index arithmetic here or in the rules can overflow.
    public func planAppend(_ entries: [LogEntry]) throws -> AppendPlan? {
        guard let head = entries.first else { return nil }
        guard UInt64.max - head.index >= UInt64(entries.count) else {
            throw StorageError.invalidArgument("log index \(UInt64.max) is reserved")
        }
        // The shared checks, so every backend refuses bad input with the same error.
        try LogAppendRules.check(entries, snapshotIndex: snapshot.index, lastIndex: last)
        let newLast = head.index + UInt64(entries.count) - 1
        return AppendPlan(obsolete: newLast < last ? newLast + 1..<last + 1 : last..<last, newLast: newLast)
    }

    /// The entries a truncation deletes; nil when it deletes nothing.
    public func planTruncate(after index: UInt64) throws -> Range<UInt64>? {
        guard index >= snapshot.index else { throw StorageError.compacted(index: index, firstIndex: first) }
        guard index < last else { return nil }
        return index + 1..<last + 1
    }

    public struct CompactPlan: Sendable {
        public var dropped: Range<UInt64>
        public var bounds: LogBounds
    }

    /// The entries a compaction drops and the bounds after it; nil when
    /// `index` is already compacted, which makes a repeated compaction harmless.
    public func planCompact(through index: UInt64, term: UInt64) throws -> CompactPlan? {
        guard index < UInt64.max else { throw StorageError.invalidArgument("log index \(UInt64.max) is reserved") }
        guard index > snapshot.index else { return nil }
        let dropEnd = Swift.min(index, last)
        return CompactPlan(
            dropped: first..<dropEnd + 1,
            bounds: LogBounds(snapshot: AppliedPosition(index: index, term: term), last: Swift.max(last, index)))
    }
}

/// Gathers entries for `entries(_:maxBytes:)`: checks that each record holds
/// the index it is stored under, and stops before the payload would pass
/// `maxBytes`, except that the first entry is always returned, so a caller
/// bounding message sizes still makes progress on one huge entry.
public struct EntryCollector {
    public let range: ClosedRange<UInt64>
    public let maxBytes: Int
    public private(set) var entries: [LogEntry] = []
    private var bytes = 0
    /// The index to read next, nil when done.
    public private(set) var expected: UInt64?

    public init(range: ClosedRange<UInt64>, maxBytes: Int) {
        self.range = range
        self.maxBytes = Swift.max(0, maxBytes)
        self.expected = range.lowerBound
    }

    /// Adds the entry read for `expected`; returns false when collection ended.
    public mutating func add(_ entry: LogEntry, path: String) throws -> Bool {
        guard let wanted = expected else { return false }
        guard entry.index == wanted else {
            throw StorageError.corrupted(path: path, reason: "record stored for log entry \(wanted) holds entry \(entry.index)")
        }
        if !entries.isEmpty, entry.data.count > maxBytes - bytes {
            expected = nil
            return false
        }
        entries.append(entry)
        bytes += entry.data.count
        expected = entry.index == range.upperBound ? nil : entry.index + 1
        return expected != nil
    }
}
