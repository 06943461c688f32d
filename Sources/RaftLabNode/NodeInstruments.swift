import Raft
import RaftLabAPI
import RaftRuntime
import StorageCore
import Synchronization
import SyncObserver

/// What a node measures about itself for the benchmark, readable in process
/// and, through the server's admin endpoints, from another process.
public protocol NodeInstrumentation: Sendable {
    /// Sync calls observed on this node's data directory, beside the stores' own count.
    func syncReport() -> NodeSyncReport
    /// Commit announcements and applies after sequence number `after`.
    func timeline(after: UInt64) -> ReplicationTimeline.Page
}

/// Membership changes, for the benchmark's snapshot install over TCP: a new,
/// empty node joins as a learner and is removed again.
public protocol NodeMembership: Sendable {
    /// Adds `id` as a learner; throws `NodeError.notLeader` on a follower.
    func addLearner(_ id: UInt64) async throws
    /// Removes `id` from the membership; throws `NodeError.notLeader` on a follower.
    func removeNode(_ id: UInt64) async throws
}

extension ClusterNode: NodeMembership {}

/// A node's syncs: observed at the system call, and as its stores count them.
public struct NodeSyncReport: Sendable, Hashable, Codable {
    /// Syncs of files in the node's data directory since it opened its stores.
    /// Nil when the process cannot observe calls made inside shared libraries
    /// (the interposed functions are not exported), so nothing is made up.
    public var observed: SyncCounts?
    /// What the log and state stores say they issued (`syncCount`): a cross-check.
    public var reported: UInt64

    public init(observed: SyncCounts?, reported: UInt64) {
        self.observed = observed
        self.reported = reported
    }
}

/// The node's transport, as the node sees it: tells the timeline whenever
/// this node first sends a commit index (a leader's commit leaves it in its
/// appends and heartbeats; a heartbeat carries at most what the follower
/// already holds, so it never announces more than was committed), and can be
/// cut, dropping every message in and out at once, as a crashed node's
/// network would.
final class NodeTransport: Transport {
    let inner: any Transport
    let timeline: ReplicationTimeline
    private let isCut = Atomic(false)

    init(_ inner: any Transport, timeline: ReplicationTimeline) {
        self.inner = inner
        self.timeline = timeline
    }

    func start(receive: @escaping @Sendable (Message) -> Void) async throws {
        try await start(receive: receive, unreachable: { _ in })
    }

    func start(
        receive: @escaping @Sendable (Message) -> Void, unreachable: @escaping @Sendable (NodeID) -> Void
    ) async throws {
        try await inner.start(
            receive: { [weak self] message in
                guard let self, !self.isCut.load(ordering: .acquiring) else { return }
                receive(message)
            },
            unreachable: { [weak self] peer in
                guard let self, !self.isCut.load(ordering: .acquiring) else { return }
                unreachable(peer)
            })
    }

    func send(_ messages: [Message]) {
        guard !isCut.load(ordering: .acquiring) else { return }
        var commit: UInt64 = 0
        for message in messages where message.kind == .append || message.kind == .heartbeat {
            commit = max(commit, message.commit)
        }
        if commit > 0 { timeline.commitAnnounced(through: commit) }
        inner.send(messages)
    }

    /// From now on nothing is sent or delivered.
    func cut() { isCut.store(true, ordering: .releasing) }

    func shutdown() async { await inner.shutdown() }
}

/// A state store that stamps the timeline once a batch (or a snapshot) has
/// been applied, after the store returned: the follower half of the lag.
final class ApplyTimingStateStore: StateStore {
    let inner: any StateStore
    let timeline: ReplicationTimeline

    init(_ inner: any StateStore, timeline: ReplicationTimeline) {
        self.inner = inner
        self.timeline = timeline
    }

    func get(_ key: Bytes) throws -> Bytes? { try inner.get(key) }
    func scan(_ range: KeyRange, limit: Int) throws -> [KeyValue] { try inner.scan(range, limit: limit) }

    func apply(_ batch: WriteBatch, through position: AppliedPosition) throws {
        try inner.apply(batch, through: position)
        timeline.applied(through: position.index)
    }

    func appliedPosition() throws -> AppliedPosition { try inner.appliedPosition() }
    func checkpoint() throws -> AppliedPosition { try inner.checkpoint() }
    func snapshot() throws -> any StateSnapshot { try inner.snapshot() }

    func restore(from source: inout some KeyValueSource, position: AppliedPosition) throws {
        try inner.restore(from: &source, position: position)
        timeline.applied(through: position.index)
    }

    var syncCount: UInt64 { inner.syncCount }
    var limits: StateStoreLimits { inner.limits }
    /// Staged snapshot data is sealed as the store underneath seals its own.
    var stagingSealer: (any StagingSealer)? { inner.stagingSealer }
    func close() throws { try inner.close() }
}
