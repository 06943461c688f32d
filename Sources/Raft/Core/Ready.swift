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
/// 2. If `snapshot` is set, restore the state store from the snapshot data and
///    compact the log through it.
/// 3. Persist `entries` and `hardState` in one `LogStore.append` (one sync).
/// 4. Send `messagesAfterPersist` (votes and append acknowledgments promise
///    what step 3 made durable).
/// 5. Apply `committedEntries` (one state store batch) and serve `readStates`.
/// 6. Call `advance(_:)`.
///
/// Only one `Ready` is outstanding at a time; the core keeps working (steps,
/// ticks, proposals) meanwhile and puts the results in the next one. A crash
/// before `advance` loses nothing the protocol relied on: nothing in step 4
/// was sent, and the core counts its own log only as far as `advance` says.
public struct Ready: Sendable {
    /// The hard state to save, when it changed.
    public var hardState: HardState?
    /// Entries to append; they may replace a suffix of the stored log.
    public var entries: [LogEntry]
    /// A snapshot received from the leader, to install before anything else.
    public var snapshot: SnapshotMetadata?
    public var committedEntries: [LogEntry]
    public var messages: [Message]
    public var messagesAfterPersist: [Message]
    public var readStates: [ReadState]

    /// True when something must reach stable storage before `messagesAfterPersist`.
    public var mustPersist: Bool { hardState != nil || !entries.isEmpty || snapshot != nil }
}
