/// The Raft log and hard state of one node.
///
/// The log holds a contiguous run of entries `firstIndex...lastIndex`. Entries
/// before `firstIndex` were compacted into a snapshot; the store still knows the
/// index and term of the last compacted entry (`snapshotIndex`,
/// `term(at: snapshotIndex)`), because Raft's consistency check for the next
/// entry needs it. An empty log has `lastIndex == snapshotIndex` and
/// `firstIndex == snapshotIndex + 1`; a new store starts at snapshot 0, term 0.
///
/// # What an implementation must guarantee
/// - **Durability.** When the store was opened with `sync` on, every mutating
///   call (`append`, `saveHardState`, `truncateSuffix`, `compact`) has reached
///   stable storage when it returns: it survives SIGKILL and power loss
///   (fsync of the files it wrote and of directories whose entries changed).
///   With `sync` off it must still survive SIGKILL of the process, but may lose
///   recent calls on power loss.
/// - **Atomicity.** Each call takes effect entirely or not at all after a crash.
///   In particular `append(_:hardState:)` persists its entries and its hard state
///   in one atomic step, so a node never restarts with a vote but without the
///   entries that went with it, or the reverse.
/// - **Order.** Calls become durable in the order they were made. The Raft engine
///   relies on this: it sends a vote or an append acknowledgment only after the
///   call that persisted what the message promises has returned.
/// - **Integrity.** Entries carry a checksum (see `LogEntryCodec`). A torn or
///   corrupted record is reported as `StorageError.corrupted`, never returned as
///   data and never silently dropped.
/// - **Errors, not traps.** Bad arguments (non-contiguous appends, ranges outside
///   the log) throw a `StorageError`; an implementation never crashes the process.
/// - **Thread safety.** Calls may come from any thread; an implementation
///   serialises them internally. The engine calls one store from one loop, so
///   contention is not a performance concern.
public protocol LogStore: AnyObject, Sendable {
    /// Index of the last entry covered by a snapshot (0 if never compacted).
    func snapshotIndex() throws -> UInt64

    /// Index of the first entry still in the log: `snapshotIndex + 1`.
    func firstIndex() throws -> UInt64

    /// Index of the last entry, or `snapshotIndex` when the log is empty.
    func lastIndex() throws -> UInt64

    /// Term of the entry at `index`, for `snapshotIndex...lastIndex`.
    /// Throws `.compacted` below that range and `.unavailable` above it.
    func term(at index: UInt64) throws -> UInt64

    /// Entries in `range`, which must lie inside `firstIndex...lastIndex`.
    /// Stops early, after at least one entry, once `maxBytes` of payload is
    /// reached, so the caller can bound message sizes.
    func entries(_ range: ClosedRange<UInt64>, maxBytes: Int) throws -> [LogEntry]

    /// Appends `entries` and saves `hardState` (when given) in one atomic,
    /// durable step: one sync for the whole batch (group commit).
    ///
    /// `entries` must be contiguous and start at most one past `lastIndex`, and
    /// at or after `firstIndex`. If they start at or before `lastIndex`, the
    /// existing suffix from that index on is replaced (Raft conflict resolution).
    func append(_ entries: [LogEntry], hardState: HardState?) throws

    /// Deletes every entry after `index` (keeps `index` itself). `index` must be
    /// at least `snapshotIndex`.
    func truncateSuffix(after index: UInt64) throws

    /// Drops every entry up to and including `index`, remembering `term` as the
    /// term of `index`. If `index >= lastIndex` the log becomes empty and
    /// continues at `index + 1` (installing a snapshot from the leader).
    func compact(through index: UInt64, term: UInt64) throws

    /// The last saved hard state, or `.initial` for a new store.
    func hardState() throws -> HardState

    /// Number of syncs (fsync, fdatasync, msync) this store has issued. Lets a
    /// benchmark show that durable writes really reached the disk.
    var syncCount: UInt64 { get }

    /// Flushes and releases the store. Later calls throw `.closed`.
    func close() throws
}

extension LogStore {
    public func append(_ entries: [LogEntry]) throws {
        try append(entries, hardState: nil)
    }

    public func saveHardState(_ state: HardState) throws {
        try append([], hardState: state)
    }

    /// Every entry from `index` to the end of the log.
    public func entries(from index: UInt64, maxBytes: Int = .max) throws -> [LogEntry] {
        let last = try lastIndex()
        guard index <= last else { return [] }
        return try entries(index...last, maxBytes: maxBytes)
    }

    public func entry(at index: UInt64) throws -> LogEntry {
        try entries(index...index, maxBytes: .max)[0]
    }
}
