import Foundation
import NoSQL
import RaftLabAPI
import RaftLabBackends
import RaftLabNode
import StorageCore
import Synchronization

/// A one-node `NoSQLService` without Raft: each write is applied at once to
/// a memory state store at the next index. It can be told to behave as a
/// follower, a node without a leader, or a failing node, so the HTTP layer's
/// answers to each case can be checked.
public final class InMemoryService: NoSQLService {
    public enum Mode: Sendable, Hashable {
        case leader
        /// Writes (and strong reads) throw `notLeader`.
        case follower(leaderID: UInt64, leaderHTTPAddress: HostPort)
        /// Writes and strong reads throw `noLeader`.
        case leaderless
        /// Writes throw `outcomeUnknown`, as a node does when a write does not commit in time.
        case timingOut
        /// Everything throws `shuttingDown`.
        case shuttingDown
        /// Everything throws `internal`.
        case broken
        /// Reads and writes throw a `StorageError`.
        case diskFailing
        /// Writes and strong reads throw `unavailable`, as a node whose disk is full does.
        case stalled
    }

    struct State {
        var mode: Mode
        var nextIndex: UInt64 = 1
        var writes = 0
        var lastIdempotencyKey: String?
    }

    public let nodeID: UInt64
    public let limits: NoSQLLimits
    public let machine: NoSQLStateMachine
    public let store: any StateStore
    private let state: Mutex<State>

    public init(nodeID: UInt64 = 1, limits: NoSQLLimits = .default, mode: Mode = .leader) throws {
        self.nodeID = nodeID
        self.limits = limits
        machine = NoSQLStateMachine(limits: limits)
        store = try BackendRegistry.standard.openStateStore(
            backend: "memory", StoreOptions(directory: "/raftlab-test-support/\(UUID().uuidString)", sync: false))
        state = Mutex(State(mode: mode))
    }

    public var mode: Mode {
        get { state.withLock { $0.mode } }
        set { state.withLock { $0.mode = newValue } }
    }

    /// Writes that reached the state machine (accepted or failed there).
    public var writes: Int { state.withLock { $0.writes } }

    /// The idempotency key of the last write that reached the service.
    public var lastIdempotencyKey: String? { state.withLock { $0.lastIdempotencyKey } }

    public func write(_ command: NoSQLCommand, idempotencyKey: String?, keyIssuedAt: UInt64?) async throws -> WriteAck {
        try state.withLock { state throws -> WriteAck in
            state.lastIdempotencyKey = idempotencyKey
            switch state.mode {
            case .leader: break
            case let .follower(id, address): throw NodeError.notLeader(leaderID: id, leaderHTTPAddress: address)
            case .leaderless: throw NodeError.noLeader
            case .timingOut: throw NodeError.outcomeUnknown("the write did not commit within the operation timeout")
            case .shuttingDown: throw NodeError.shuttingDown
            case .broken: throw NodeError.internal("the disk caught fire")
            case .diskFailing: throw StorageError.io(operation: "fsync", path: "/data/state", errno: 5)
            case .stalled: throw NodeError.unavailable("log writes are stalled at index 7 (No space left on device); retrying")
            }
            _ = try machine.prepare(command, checkingAgainst: store)
            state.writes += 1
            let index = state.nextIndex
            state.nextIndex += 1
            var pending = PendingWrites(store: store)
            let result = try machine.apply(command, at: index, to: &pending)
            try store.apply(pending.writeBatch, through: AppliedPosition(index: index, term: 1))
            return WriteAck(index: index, outcome: try result.get())
        }
    }

    public func read<T: Sendable>(
        _ consistency: ReadConsistency, _ body: @Sendable (NoSQLStateMachine, any StateStore) throws -> T
    ) async throws -> T {
        switch (mode, consistency) {
        case (.shuttingDown, _): throw NodeError.shuttingDown
        case (.broken, _): throw NodeError.internal("the disk caught fire")
        case (.diskFailing, _): throw StorageError.io(operation: "read", path: "/data/state", errno: 5)
        case (.leaderless, .strong): throw NodeError.noLeader
        case (.stalled, .strong): throw NodeError.unavailable("log writes are stalled at index 7 (No space left on device); retrying")
        case let (.follower(id, address), .strong): throw NodeError.notLeader(leaderID: id, leaderHTTPAddress: address)
        default: return try body(machine, store)
        }
    }

    public func status() async throws -> NodeStatus {
        let (mode, next) = state.withLock { ($0.mode, $0.nextIndex) }
        if mode == .broken { throw NodeError.internal("the disk caught fire") }
        var role = "leader"
        var leaderID = nodeID
        var leaderAddress: String? = "127.0.0.1:8100"
        switch mode {
        case let .follower(id, address):
            role = "follower"
            leaderID = id
            leaderAddress = address.description
        case .leaderless:
            role = "candidate"
            leaderID = 0
            leaderAddress = nil
        default: break
        }
        return NodeStatus(
            nodeID: nodeID, role: role, term: 3, leaderID: leaderID, leaderHTTPAddress: leaderAddress,
            commitIndex: next - 1, appliedIndex: next - 1, firstIndex: 1, lastIndex: next - 1,
            logBackend: "memory", stateBackend: "memory", sync: false, voters: [1, 2, 3], learners: [])
    }
}
