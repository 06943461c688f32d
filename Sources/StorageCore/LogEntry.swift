/// One entry of the replicated Raft log.
///
/// The storage layer treats `data` as opaque bytes; only the Raft engine and the
/// state machine give it meaning. `kind` lets the engine tell configuration
/// changes and leader no-ops apart from client commands without decoding them.
public struct LogEntry: Sendable, Hashable {
    public enum Kind: UInt8, Sendable, Hashable {
        /// A client command for the state machine.
        case command = 0
        /// An empty entry a new leader appends to commit entries of earlier terms.
        case noop = 1
        /// A cluster membership change.
        case configuration = 2
    }

    public var index: UInt64
    public var term: UInt64
    public var kind: Kind
    public var data: [UInt8]

    public init(index: UInt64, term: UInt64, kind: Kind = .command, data: [UInt8] = []) {
        self.index = index
        self.term = term
        self.kind = kind
        self.data = data
    }
}

/// The part of a Raft node's state that must survive a restart besides the log:
/// the latest term it has seen and whom it voted for in that term.
///
/// A vote is a promise; forgetting it after a crash could elect two leaders in
/// one term, which is why `LogStore.saveHardState` is durable before it returns.
public struct HardState: Sendable, Hashable {
    public var term: UInt64
    /// Node id voted for in `term`, or nil.
    public var votedFor: UInt64?
    /// Highest index known committed. Optional to persist (Raft can relearn it),
    /// but it lets a restarted node apply its durable log tail without waiting
    /// for a leader.
    public var commit: UInt64

    public init(term: UInt64 = 0, votedFor: UInt64? = nil, commit: UInt64 = 0) {
        self.term = term
        self.votedFor = votedFor
        self.commit = commit
    }

    public static let initial = HardState()
}
