import StorageCore

/// A linearizable read point: once the state machine has applied `index`, a
/// read issued with `context` sees every write committed before it began.
public struct ReadState: Sendable, Hashable {
    public var index: UInt64
    public var context: [UInt8]

    public init(index: UInt64, context: [UInt8]) {
        self.index = index
        self.context = context
    }
}

/// Everything the core wants done, handed out by `RaftCore.ready()` and
/// acknowledged with `RaftCore.advance(_:)`. Work it in this order:
///
/// 1. Send `messages` (they may leave before the writes below are durable:
///    a leader replicates while it persists its own entries).
/// 2. Hand `committedEntries` to the application. Applying them may run
///    concurrently with the steps below and with later Readies' persistence,
///    as long as batches are applied in order; a client is answered once its
///    entry is applied.
/// 3. If `snapshot` is set, wait until every earlier committed entry is
///    applied, restore the state store from the snapshot data and compact the
///    log through it.
/// 4. If `mustSync`, persist `entries` and `hardState` in one synced
///    `LogStore.append`.
/// 5. Send `messagesAfterPersist` (votes and append acknowledgments promise
///    what step 4 made durable).
/// 6. Call `advance(_:)`; serve `readStates` once the application has applied
///    their index.
///
/// Only one `Ready` is outstanding at a time; the core keeps working (steps,
/// ticks, proposals) meanwhile and puts the results in the next one. A crash
/// before `advance` loses nothing the protocol relied on: nothing in step 5
/// was sent, and the core counts its own log only as far as `advance` says.
public struct Ready: Sendable {
    /// The hard state to save. Set when the term or vote changed (a vote must
    /// be durable before it is sent), or when entries or a snapshot are
    /// written anyway, which then carry the latest commit index for free. A
    /// change of the commit index alone never asks for a write: it is
    /// recovered after a restart from the log and the state store.
    public var hardState: HardState?
    /// Entries to append; they may replace a suffix of the stored log.
    public var entries: [LogEntry]
    /// A snapshot received from the leader, to install before anything else.
    public var snapshot: SnapshotMetadata?
    public var committedEntries: [LogEntry]
    public var messages: [Message]
    public var messagesAfterPersist: [Message]
    public var readStates: [ReadState]

    /// True when something must reach stable storage before
    /// `messagesAfterPersist` may leave (etcd's `MustSync`): entries, a term
    /// or vote change, or a snapshot.
    public var mustSync: Bool { hardState != nil || !entries.isEmpty || snapshot != nil }
}
