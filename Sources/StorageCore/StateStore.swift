#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A key or value: raw bytes, compared in unsigned byte order.
public typealias Bytes = [UInt8]

extension Array where Element == UInt8 {
    /// True when these bytes sort before `other` in unsigned byte order (a
    /// proper prefix sorts first). One `memcmp`: the generic
    /// `lexicographicallyPrecedes` walks both arrays element by element and
    /// dominated the cost of lookups in sorted maps.
    @inlinable
    public func sortsBefore(_ other: [UInt8]) -> Bool {
        withUnsafeBufferPointer { a in
            other.withUnsafeBufferPointer { b in
                let common = Swift.min(a.count, b.count)
                let order = common == 0 ? 0 : memcmp(a.baseAddress!, b.baseAddress!, common)
                return order < 0 || (order == 0 && a.count < b.count)
            }
        }
    }
}

/// A key and its value, as returned by scans and snapshots.
public struct KeyValue: Sendable, Hashable {
    public var key: Bytes
    public var value: Bytes
    public init(key: Bytes, value: Bytes) {
        self.key = key
        self.value = value
    }
}

/// The Raft log position a state store has applied through. Stored in the same
/// atomic step as the writes it covers, so a restarted node replays exactly the
/// log tail after it: no entry is applied twice, none is skipped.
public struct AppliedPosition: Sendable, Hashable, Comparable {
    public var index: UInt64
    public var term: UInt64
    public init(index: UInt64, term: UInt64) {
        self.index = index
        self.term = term
    }
    public static let zero = AppliedPosition(index: 0, term: 0)
    public static func < (a: Self, b: Self) -> Bool { a.index < b.index }
}

/// An ordered list of puts and deletes applied atomically. Later operations on
/// the same key win, as if they were applied one by one.
public struct WriteBatch: Sendable, Hashable {
    public enum Operation: Sendable, Hashable {
        case put(key: Bytes, value: Bytes)
        case delete(key: Bytes)

        public var key: Bytes {
            switch self {
            case .put(let key, _), .delete(let key): key
            }
        }
    }

    public private(set) var operations: [Operation] = []

    public init(_ operations: [Operation] = []) {
        self.operations = operations
    }

    public mutating func put(_ key: Bytes, _ value: Bytes) {
        operations.append(.put(key: key, value: value))
    }

    public mutating func delete(_ key: Bytes) {
        operations.append(.delete(key: key))
    }

    public var isEmpty: Bool { operations.isEmpty }
    public var count: Int { operations.count }
}

/// A half-open range of keys `lower ..< upper` in byte order; `upper == nil`
/// means "to the end".
public struct KeyRange: Sendable, Hashable {
    public var lower: Bytes
    public var upper: Bytes?

    public init(from lower: Bytes = [], to upper: Bytes? = nil) {
        self.lower = lower
        self.upper = upper
    }

    public static let all = KeyRange()

    /// Every key that starts with `prefix`. The end is the shortest key greater
    /// than every such key: drop trailing 0xFF bytes and increment the last one
    /// (a prefix of only 0xFF bytes has no end).
    public static func prefix(_ prefix: Bytes) -> KeyRange {
        var end = prefix
        while let last = end.last, last == 0xFF { end.removeLast() }
        guard !end.isEmpty else { return KeyRange(from: prefix, to: nil) }
        end[end.count - 1] += 1
        return KeyRange(from: prefix, to: end)
    }

    public func contains(_ key: Bytes) -> Bool {
        guard !key.sortsBefore(lower) else { return false }
        if let upper { return key.sortsBefore(upper) }
        return true
    }

    /// True when `key` lies at or past the upper bound.
    public func isPastEnd(_ key: Bytes) -> Bool {
        guard let upper else { return false }
        return !key.sortsBefore(upper)
    }
}

/// A source of key/value pairs in ascending key order: a snapshot being read,
/// or one arriving from a leader.
public protocol KeyValueSource {
    mutating func next() throws -> KeyValue?
}

/// Key/value pairs already in memory (tests, small snapshots).
public struct ArrayKeyValueSource: KeyValueSource {
    private var iterator: IndexingIterator<[KeyValue]>
    public init(_ pairs: [KeyValue]) { iterator = pairs.makeIterator() }
    public mutating func next() throws -> KeyValue? { iterator.next() }
}

/// A consistent, point-in-time view of a whole state store: every pair as of
/// `position`, in key order, unaffected by writes made after it was taken.
/// Release it with `close()`; a disk backend may pin files or pages until then.
public protocol StateSnapshot: AnyObject, Sendable, KeyValueSource {
    var position: AppliedPosition { get }
    func next() throws -> KeyValue?
    func close()
}

extension StateSnapshot {
    /// Reads the remaining pairs into memory.
    public func readAll() throws -> [KeyValue] {
        var pairs: [KeyValue] = []
        while let pair = try next() { pairs.append(pair) }
        return pairs
    }
}

/// The state machine's ordered key-value store.
///
/// # What an implementation must guarantee
/// - **Atomic batches.** `apply(_:through:)` makes all of a batch's writes and
///   the new applied position visible and durable together: after a crash the
///   store shows either the whole batch and the new position or neither.
/// - **Durability** depends on the store's `StateSyncMode` (with `sync` on):
///   - `.checkpoint` (the default): `apply` need not sync. `checkpoint()` makes
///     every batch applied so far durable, and `restore` is durable when it
///     returns. After a crash (SIGKILL or power loss) the store reopens at some
///     applied position between the last checkpoint and the last `apply`,
///     with exactly the writes of the batches through that position: a
///     prefix of the applied batches, never a torn one. Raft's log is the
///     durability point; a restart replays the log after `appliedPosition`,
///     and the runtime never compacts the log past a checkpoint.
///   - `.always`: `apply` and `restore` have reached stable storage when
///     they return (SIGKILL and power loss); `checkpoint()` has nothing to do.
///
///   With `sync` off nothing is synced: calls survive SIGKILL, and power loss
///   may take the store back to any earlier state the backend can recover.
/// - **Monotonic position.** `apply` refuses a position below the current one;
///   only `restore` may move it anywhere.
/// - **Byte order.** Scans and snapshots return keys in unsigned lexicographic
///   byte order; any byte string, including empty keys and 0x00/0xFF, is a key.
/// - **Consistent snapshots.** `snapshot()` returns a view that later writes do
///   not change, and writes may continue while it is read.
/// - **Errors, not traps**, and thread safety, as for `LogStore`.
///
/// Keys starting with the byte 0xFF are reserved for the Raft engine's own
/// records (such as cluster membership), so they travel inside snapshots.
public protocol StateStore: AnyObject, Sendable {
    func get(_ key: Bytes) throws -> Bytes?

    /// Pairs in `range`, in key order, at most `limit` of them.
    func scan(_ range: KeyRange, limit: Int) throws -> [KeyValue]

    /// Applies `batch` and records `position` as applied, atomically.
    func apply(_ batch: WriteBatch, through position: AppliedPosition) throws

    /// The position recorded by the last `apply` or `restore` (`.zero` when new).
    func appliedPosition() throws -> AppliedPosition

    /// Makes every batch applied so far durable and returns the applied
    /// position that is now safe from power loss. The Raft runtime calls it
    /// before compacting its log through that position. Cheap when nothing
    /// was applied since the last checkpoint.
    @discardableResult
    func checkpoint() throws -> AppliedPosition

    func snapshot() throws -> any StateSnapshot

    /// Replaces the whole state with the pairs of `source` (in ascending key
    /// order) as of `position`, atomically: a crash midway leaves the old state.
    func restore(from source: inout some KeyValueSource, position: AppliedPosition) throws

    /// Syncs issued so far (see `LogStore.syncCount`).
    var syncCount: UInt64 { get }

    /// The largest key and value this store holds. Every store holds at
    /// least `StateStoreLimits.cluster` and refuses a batch with anything
    /// larger (`.invalidArgument`, nothing written); the conformance kit
    /// checks both sides of the limit on every backend.
    var limits: StateStoreLimits { get }

    /// How data bound for this store is kept while it waits on disk outside
    /// it (a snapshot from the leader is staged in a file before `restore`
    /// reads it): nil keeps it as it came, which is what a store that keeps
    /// its own data in the clear wants; an encrypting store seals it.
    var stagingSealer: (any StagingSealer)? { get }

    func close() throws
}

/// Seals the bytes of a staging file piece by piece, so that what a store
/// protects at rest is protected while it is staged too. `frame` numbers the
/// pieces of one file from 0: a piece unsealed under another number fails,
/// so pieces cannot be reordered. Unsealing a piece that was altered throws.
public protocol StagingSealer: Sendable {
    func seal(_ bytes: [UInt8], frame: UInt64) throws -> [UInt8]
    func unseal(_ bytes: [UInt8], frame: UInt64) throws -> [UInt8]
}

extension StateStore {
    public var stagingSealer: (any StagingSealer)? { nil }

    public var limits: StateStoreLimits { .cluster }

    public func scan(_ range: KeyRange) throws -> [KeyValue] {
        try scan(range, limit: .max)
    }

    public func scan(prefix: Bytes, limit: Int = .max) throws -> [KeyValue] {
        try scan(.prefix(prefix), limit: limit)
    }
}
