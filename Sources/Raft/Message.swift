import StorageCore

/// A node's identity in the cluster. 0 means "none".
public typealias NodeID = UInt64

/// Which nodes vote and which only receive the log, and which cluster they form.
public struct ClusterConfiguration: Sendable, Hashable {
    public var voters: Set<NodeID>
    /// Non-voting members that receive the log and catch up before promotion.
    public var learners: Set<NodeID>
    /// The cluster's identity, fixed when it was bootstrapped and carried by
    /// every message, so nodes of two clusters never mistake each other for
    /// peers. 0 means not known yet (a node waiting to join).
    public var clusterID: UInt64

    public init(voters: Set<NodeID>, learners: Set<NodeID> = [], clusterID: UInt64 = 0) {
        self.voters = voters
        self.learners = learners
        self.clusterID = clusterID
    }

    public var members: Set<NodeID> { voters.union(learners) }
}

/// Everything nodes say to each other. Like etcd's raftpb.Message, one flat
/// value type for every kind, so the transport encodes a single shape and the
/// core switches on `kind`.
public struct Message: Sendable, Hashable {
    public enum Kind: UInt8, Sendable, Hashable, CaseIterable {
        case preVote = 1
        case preVoteResponse = 2
        case vote = 3
        case voteResponse = 4
        /// AppendEntries; also used as heartbeat when `entries` is empty.
        case append = 5
        case appendResponse = 6
        case heartbeat = 7
        case heartbeatResponse = 8
        /// InstallSnapshot: `snapshot` describes it; the runtime streams the data.
        case snapshot = 9
        case snapshotResponse = 10
        /// Leadership transfer: the target should start an election now.
        case timeoutNow = 11
        /// ReadIndex: a follower asks the leader for a read index (`context` identifies the request).
        case readIndex = 12
        case readIndexResponse = 13
        /// The runtime's acknowledgment of snapshot data received so far
        /// (`snapshot.offset`): flow control for a snapshot in transit. Never
        /// reaches the core.
        case snapshotAck = 14
        /// A follower whose state store is behind its log (lost with a
        /// volatile store) asks the leader for a snapshot.
        case snapshotRequest = 15
    }

    public var kind: Kind
    /// The sender's cluster (0 when it does not know it yet). Receivers drop
    /// messages of another cluster.
    public var clusterID: UInt64 = 0
    public var from: NodeID
    public var to: NodeID
    public var term: UInt64
    /// Index of the entry before `entries` (append), the candidate's last index
    /// (vote), or the matched / hinted index in responses.
    public var logIndex: UInt64
    /// Term of the entry at `logIndex`.
    public var logTerm: UInt64
    public var commit: UInt64
    public var entries: [LogEntry]
    public var reject: Bool
    /// On a rejected append: the follower's guess where the leader should retry.
    public var rejectHint: UInt64
    /// Opaque bytes echoed back (ReadIndex request ids, heartbeat contexts).
    public var context: [UInt8]
    public var snapshot: SnapshotChunk?

    public init(
        kind: Kind, from: NodeID, to: NodeID, term: UInt64,
        logIndex: UInt64 = 0, logTerm: UInt64 = 0, commit: UInt64 = 0,
        entries: [LogEntry] = [], reject: Bool = false, rejectHint: UInt64 = 0,
        context: [UInt8] = [], snapshot: SnapshotChunk? = nil
    ) {
        self.kind = kind
        self.from = from
        self.to = to
        self.term = term
        self.logIndex = logIndex
        self.logTerm = logTerm
        self.commit = commit
        self.entries = entries
        self.reject = reject
        self.rejectHint = rejectHint
        self.context = context
        self.snapshot = snapshot
    }
}

/// One piece of a snapshot on its way to a follower. The core only looks at the
/// metadata; `data` carries a slice of the serialized state store, and `offset`
/// / `isLast` let the receiver reassemble a snapshot larger than one message.
public struct SnapshotChunk: Sendable, Hashable {
    public var index: UInt64
    public var term: UInt64
    public var configuration: ClusterConfiguration
    public var offset: UInt64
    public var data: [UInt8]
    public var isLast: Bool

    public init(
        index: UInt64, term: UInt64, configuration: ClusterConfiguration,
        offset: UInt64 = 0, data: [UInt8] = [], isLast: Bool = true
    ) {
        self.index = index
        self.term = term
        self.configuration = configuration
        self.offset = offset
        self.data = data
        self.isLast = isLast
    }
}
