// What a client of a node sees without linking the node: how reads may be
// served, why a node refused a request, and a node's status. RaftLabNode's
// `NoSQLService` speaks these types; so do the HTTP server and its clients.

public enum ReadConsistency: String, Sendable, Hashable, CaseIterable {
    /// This node's applied state, possibly behind the leader.
    case local
    /// Linearizable, through ReadIndex.
    case strong
}

/// Why a node could not serve a request, as opposed to the request being bad.
public enum NodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Writes go to the leader; this is who it is, as far as this node knows.
    case notLeader(leaderID: UInt64, leaderHTTPAddress: HostPort)
    /// No leader is known (an election is running): retry shortly.
    case noLeader
    /// The request did not finish in time; a write may still take effect.
    case timeout
    /// A write reached the log but its fate is unknown here: it may or may
    /// not take effect. Retry it only with the same idempotency key.
    case outcomeUnknown(String)
    case shuttingDown
    /// This node cannot take requests now because of its own environment
    /// (its disk is full, a store fails; see `NodeStall`): nothing was
    /// proposed, another node or a later retry may succeed.
    case unavailable(String)
    /// The node itself failed (a storage error): not the client's fault.
    case `internal`(String)

    public var description: String {
        switch self {
        case let .notLeader(id, address): "this node is not the leader; the leader is node \(id) at \(address)"
        case .noLeader: "no leader is elected yet; retry shortly"
        case .timeout: "the request timed out; a write may still take effect"
        case .outcomeUnknown(let why):
            "the write's outcome is unknown (\(why)): it may or may not have been applied; retry with the same Idempotency-Key to apply it at most once"
        case .shuttingDown: "the node is shutting down"
        case .unavailable(let why): "this node cannot take requests now: \(why)"
        case .internal(let message): "internal error: \(message)"
        }
    }
}

/// A node's view of itself and the cluster (`GET /status`, `raftlab status`).
public struct NodeStatus: Sendable, Hashable, Codable {
    public var nodeID: UInt64
    /// "leader", "follower", "candidate", "pre-candidate" or "learner".
    public var role: String
    public var term: UInt64
    /// 0 when no leader is known.
    public var leaderID: UInt64
    public var leaderHTTPAddress: String?
    public var commitIndex: UInt64
    public var appliedIndex: UInt64
    public var firstIndex: UInt64
    public var lastIndex: UInt64
    public var logBackend: String
    public var stateBackend: String
    public var sync: Bool
    public var voters: [UInt64]
    public var learners: [UInt64]
    /// The cluster this node belongs to, in hex ("" while a joining node does not know it yet).
    public var clusterID: String
    /// Set while this node cannot write its log or apply committed entries
    /// (a full disk, an I/O error): it keeps its log, answers writes with
    /// 503, and resumes by itself once the store takes the write again.
    public var applyStalled: Stall?

    /// Why a node makes no progress (`apply_stalled` in JSON).
    public struct Stall: Sendable, Hashable, Codable {
        /// "apply" (the state store refuses a batch) or "log" (the log store refuses a write).
        public var stage: String
        /// The first index waiting.
        public var index: UInt64
        public var error: String
        public var attempts: Int

        public init(stage: String, index: UInt64, error: String, attempts: Int) {
            self.stage = stage
            self.index = index
            self.error = error
            self.attempts = attempts
        }
    }

    public init(
        nodeID: UInt64, role: String, term: UInt64, leaderID: UInt64, leaderHTTPAddress: String?,
        commitIndex: UInt64, appliedIndex: UInt64, firstIndex: UInt64, lastIndex: UInt64,
        logBackend: String, stateBackend: String, sync: Bool, voters: [UInt64], learners: [UInt64],
        clusterID: String = "", applyStalled: Stall? = nil
    ) {
        self.clusterID = clusterID
        self.applyStalled = applyStalled
        self.nodeID = nodeID
        self.role = role
        self.term = term
        self.leaderID = leaderID
        self.leaderHTTPAddress = leaderHTTPAddress
        self.commitIndex = commitIndex
        self.appliedIndex = appliedIndex
        self.firstIndex = firstIndex
        self.lastIndex = lastIndex
        self.logBackend = logBackend
        self.stateBackend = stateBackend
        self.sync = sync
        self.voters = voters
        self.learners = learners
    }

    enum CodingKeys: String, CodingKey {
        case nodeID = "node_id"
        case role
        case term
        case leaderID = "leader_id"
        case leaderHTTPAddress = "leader_http_addr"
        case commitIndex = "commit_index"
        case appliedIndex = "applied_index"
        case firstIndex = "first_index"
        case lastIndex = "last_index"
        case logBackend = "log_backend"
        case stateBackend = "state_backend"
        case sync
        case voters
        case learners
        case clusterID = "cluster_id"
        case applyStalled = "apply_stalled"
    }
}
