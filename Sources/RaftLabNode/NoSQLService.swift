import NoSQL
import StorageCore

/// What one node offers its clients: replicated writes and reads of its
/// NoSQL tables, and its status. The HTTP server is a thin layer over this
/// plain type, so tests and the benchmark can call a node without HTTP.
public protocol NoSQLService: Sendable {
    /// Limits the node enforces (item size, key sizes), for validating requests early.
    var limits: NoSQLLimits { get }

    /// Proposes `command` through Raft and returns once it is committed and
    /// applied on this node. Throws `NoSQLError` when the command fails
    /// deterministically (conflict, missing table...), `NodeError` when this
    /// node cannot take writes (not the leader, no leader, shutting down) or
    /// cannot tell whether the write took effect (`.outcomeUnknown`).
    ///
    /// With an `idempotencyKey` (1-255 printable ASCII characters), a write
    /// whose key was applied before, within the cluster's window (10
    /// minutes by default), is not applied again: the first application's
    /// result comes back; the key with another command is refused
    /// (`idempotency_key_mismatch`). `keyIssuedAt` (ms since the Unix
    /// epoch) says when the client first sent the key: a write first sent
    /// longer ago than the window is refused (`idempotency_key_expired`)
    /// rather than applied again (see `WriteSessions`).
    func write(_ command: NoSQLCommand, idempotencyKey: String?, keyIssuedAt: UInt64?) async throws -> WriteAck

    /// Runs `body` against this node's state. `.local` reads what this node
    /// has applied (eventual consistency, as in the original simulator);
    /// `.strong` first waits for a ReadIndex round with a quorum, so it sees
    /// every write acknowledged before the read began (linearizable).
    func read<T: Sendable>(
        _ consistency: ReadConsistency,
        _ body: @Sendable (NoSQLStateMachine, any StateStore) throws -> T
    ) async throws -> T

    func status() async throws -> NodeStatus
}

extension NoSQLService {
    /// A write without an idempotency key: applied once per call.
    public func write(_ command: NoSQLCommand) async throws -> WriteAck {
        try await write(command, idempotencyKey: nil, keyIssuedAt: nil)
    }

    /// A write with an idempotency key whose first-sent time is not known.
    public func write(_ command: NoSQLCommand, idempotencyKey: String?) async throws -> WriteAck {
        try await write(command, idempotencyKey: idempotencyKey, keyIssuedAt: nil)
    }
}

/// A committed, applied write: the log index that stamped it and what it did.
public struct WriteAck: Sendable, Hashable {
    public var index: UInt64
    public var outcome: CommandOutcome

    public init(index: UInt64, outcome: CommandOutcome) {
        self.index = index
        self.outcome = outcome
    }
}

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
