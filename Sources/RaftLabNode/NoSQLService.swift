import NoSQL
import RaftLabAPI
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
