import StorageCore

/// Every failure the core and the runtime report. Callers switch on the case.
public enum RaftError: Error, Sendable, Equatable, CustomStringConvertible {
    /// This node is not the leader; `leaderHint` is the leader it knows of, if any.
    case notLeader(leaderHint: NodeID?)
    /// The node was stopped.
    case stopped
    /// The operation did not complete in time; it may still take effect.
    case timeout
    /// The proposal reached the log, but this node can no longer tell whether
    /// it will commit (it stopped, failed, or a snapshot replaced the state):
    /// it may or may not take effect. Retrying is safe only with a way to
    /// recognise a duplicate (an idempotency key).
    case outcomeUnknown(String)
    /// A leadership transfer is in progress; proposals are refused until it ends.
    case transferInProgress
    /// A membership change is still being committed or applied.
    case configurationChangeInProgress
    /// The requested membership change is not a valid single-server change.
    case invalidConfigurationChange(String)
    /// The proposal's entry was replaced by another leader's entry; it will not apply.
    case proposalDropped
    /// A store failed.
    case storage(StorageError)
    /// Something that a correct peer or caller never produces (a bug, or corruption).
    case protocolViolation(String)
    /// A bad argument or setting.
    case invalidArgument(String)
    /// This node cannot take the request now for a reason of its own
    /// environment (its disk is full, its store fails): another node may.
    /// Nothing was proposed.
    case unavailable(String)

    public var description: String {
        switch self {
        case .notLeader(let hint):
            if let hint { "this node is not the leader; the leader is node \(hint)" } else { "this node is not the leader and knows no leader" }
        case .stopped: "the raft node is stopped"
        case .timeout: "the operation timed out; it may still take effect"
        case .outcomeUnknown(let why): "the outcome is unknown (\(why)): the write may or may not take effect"
        case .transferInProgress: "a leadership transfer is in progress"
        case .configurationChangeInProgress: "a membership change is still in progress"
        case .invalidConfigurationChange(let why): "invalid membership change: \(why)"
        case .proposalDropped: "the proposal was overwritten by another leader and will not be applied"
        case .storage(let error): "storage error: \(error)"
        case .protocolViolation(let why): "raft protocol violation: \(why)"
        case .invalidArgument(let why): "invalid argument: \(why)"
        case .unavailable(let why): "this node cannot take requests now: \(why)"
        }
    }
}
