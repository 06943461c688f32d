import Foundation
import NoSQL
import RaftLabNode
import RaftLabReport
import StorageCore

/// One node of a cluster under test, as the load generator and the recovery
/// probe drive it: in this process (`ClusterNode`) or in a process of its
/// own behind its HTTP API (`HTTPBenchNode`).
///
/// Narrower than `NoSQLService` on purpose: a service's reads run a closure
/// against the node's state store, which cannot cross a process boundary; the
/// benchmark only ever reads one item by key, which both kinds of node can do.
protocol BenchNode: Sendable {
    var id: UInt64 { get }
    /// Replicates `command`; returns its log index once it is committed and
    /// applied on this node. Throws `NodeError` when this node cannot take
    /// the write (not the leader, no leader, timeout, shutting down).
    func replicate(_ command: NoSQLCommand) async throws -> UInt64
    /// Reads one item's current content from this node's state (nil if absent).
    func getItem(table: String, key: ItemKey, consistency: ReadConsistency) async throws -> NoSQL.JSONValue?
    func status() async throws -> NodeStatus
}

/// A cluster under test: the runner and the recovery probe see only this, so
/// the same measurements run in one process or with a process per node.
protocol BenchCluster: AnyObject, Sendable {
    /// Nodes running now, by id.
    var nodes: [any BenchNode] { get }
    func node(_ id: UInt64) -> (any BenchNode)?
    /// The running node that leads in the highest term, once one does.
    func leader(within timeout: Duration) async throws -> any BenchNode
    /// Stops node `id` cleanly (its stores are closed); its data stays.
    func stop(_ id: UInt64) async throws
    /// Ends node `id` as abruptly as the cluster allows (a leader failure).
    func crash(_ id: UInt64) async throws
    /// Starts node `id` again from its data directory; returns once it serves.
    func start(_ id: UInt64) async throws
    /// Stops every node; never throws, so it fits every exit path.
    func shutdown() async
    /// Whether a stopped node comes back with the data it had. False for a
    /// memory store that lived in a node process that has ended.
    var restartKeepsData: Bool { get }
    /// Syncs issued by every running node's stores, or nil when the stores
    /// live in other processes and cannot be asked.
    var syncCount: UInt64? { get }
    /// Bytes the processes running the nodes have written to disk
    /// (/proc/<pid>/io), or nil where that counter cannot be read.
    func bytesWritten() -> UInt64?
    /// The directory of each node's stores, for the disk usage column.
    var dataDirectories: [String] { get }
    /// Why a node that should be running is not (a node process that died,
    /// with the end of its output), or nil when every node is up.
    var failureReport: String? { get }
}

extension BenchCluster {
    func leader() async throws -> any BenchNode { try await leader(within: .seconds(10)) }
}

/// Clusters that can change their membership, which the snapshot install
/// measurement needs (a new, empty node joins and catches up).
protocol MembershipControl: BenchCluster {
    /// Starts node `id` empty, waiting for a leader to add it.
    func startJoining(_ id: UInt64) async throws
    /// Adds `id` as a learner, through the leader.
    func addLearner(_ id: UInt64) async throws
    /// Removes `id` from the membership, through the leader.
    func removeNode(_ id: UInt64) async throws
}

// MARK: In-process

extension ClusterNode: BenchNode {
    func replicate(_ command: NoSQLCommand) async throws -> UInt64 {
        try await write(command).index
    }

    func getItem(table: String, key: ItemKey, consistency: ReadConsistency) async throws -> NoSQL.JSONValue? {
        try await read(consistency) { machine, store in try? machine.getItem(table: table, key: key, in: store).item }
    }
}

/// Every node in this process on an in-process hub (`LocalCluster`).
final class InProcessBenchCluster: MembershipControl {
    let cluster: LocalCluster

    init(_ cluster: LocalCluster) {
        self.cluster = cluster
    }

    var nodes: [any BenchNode] { cluster.nodes }
    func node(_ id: UInt64) -> (any BenchNode)? { cluster.node(id) }

    func leader(within timeout: Duration) async throws -> any BenchNode {
        try await cluster.leader(within: timeout)
    }

    func stop(_ id: UInt64) async throws { await cluster.stop(id) }
    /// In one process a node can only be stopped; its stores are closed cleanly.
    func crash(_ id: UInt64) async throws { await cluster.stop(id) }
    func start(_ id: UInt64) async throws { try await cluster.start(id) }
    func shutdown() async { await cluster.stop() }

    /// Even the memory backend keeps a stopped node's data, in this process.
    var restartKeepsData: Bool { true }

    var syncCount: UInt64? { cluster.nodes.reduce(UInt64(0)) { $0 + $1.syncCount } }

    func bytesWritten() -> UInt64? { try? ProcessIO.writeBytes() }

    var dataDirectories: [String] {
        cluster.config.nodes.map { cluster.config.storage.storageConfig(forNode: $0.id).dataDirectory }
    }

    /// A node in this process does not die on its own: an engine failure
    /// surfaces as errors of the requests it fails.
    var failureReport: String? { nil }

    func startJoining(_ id: UInt64) async throws { try await cluster.start(id, joining: true) }

    func addLearner(_ id: UInt64) async throws { try await cluster.leader().raft.addLearner(id) }

    func removeNode(_ id: UInt64) async throws { try await cluster.leader().raft.removeNode(id) }
}
