import Foundation
import NoSQL
import RaftLabAPI
import RaftLabHarness
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
    /// With an `idempotencyKey`, a write that already committed under that
    /// key is answered with its first result (and index) instead of applying
    /// again: a retry after an unknown outcome passes the same key.
    func replicate(_ command: NoSQLCommand, idempotencyKey: String?) async throws -> UInt64
    /// Reads one item's current content from this node's state (nil if absent).
    func getItem(table: String, key: ItemKey, consistency: ReadConsistency) async throws -> JSONValue?
    /// Reads up to `limit` items of one partition in key order; returns how many there were.
    func query(table: String, partition: String, limit: Int, consistency: ReadConsistency) async throws -> Int
    func status() async throws -> NodeStatus
    /// Syncs observed on this node's data directory, and the stores' own count.
    func syncs() async throws -> NodeSyncReport
    /// This node's commit announcements and applies after sequence number `after`.
    func timeline(after: UInt64) async throws -> ReplicationTimeline.Page
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
    /// Ends node `id` as a crash does: SIGKILL of its process, or in one
    /// process, cut off the network and halted without closing its stores.
    func crash(_ id: UInt64) async throws
    /// Starts node `id` again from its data directory; returns once it serves.
    func start(_ id: UInt64) async throws
    /// Starts node `id` empty, waiting for a leader to add it.
    func startJoining(_ id: UInt64) async throws
    /// Adds `id` as a learner, through the leader.
    func addLearner(_ id: UInt64) async throws
    /// Removes `id` from the membership, through the leader.
    func removeNode(_ id: UInt64) async throws
    /// Whether a stopped node comes back with the log it had (its state may
    /// be rebuilt from a snapshot). False for a memory log that lived in a
    /// node process that has ended.
    var restartKeepsData: Bool { get }
    /// Stops every node; never throws, so it fits every exit path.
    func shutdown() async
    /// Bytes the processes running the nodes have written to disk
    /// (/proc/<pid>/io), or nil where that counter cannot be read.
    func bytesWritten() -> UInt64?
    /// The directory of each node's stores, for the disk usage column.
    var dataDirectories: [String] { get }
    /// Why a node that should be running is not (a node process that died,
    /// with the end of its output), or nil when every node is up.
    var failureReport: String? { get }
}

extension BenchNode {
    /// A write that is never retried blindly (creating the table: a retry that finds it exists is told so).
    func replicate(_ command: NoSQLCommand) async throws -> UInt64 {
        try await replicate(command, idempotencyKey: nil)
    }
}

extension BenchCluster {
    /// The leader, waiting up to a minute: a backend whose disk work stalls
    /// the engine for seconds (flatfile under a large batch) can make
    /// followers start elections, and a measurement waits them out.
    func leader() async throws -> any BenchNode { try await leader(within: .seconds(60)) }

    /// Waits until every running node has applied the leader's commit index
    /// and nothing has moved for a while. A node is then idle (no disk
    /// work of the engine in flight), which a clean stop needs: the runtime's
    /// `stop()` returns while a Ready's disk work may still be running, and
    /// the stores must not be closed under it.
    func quiesce(within limit: Duration = .seconds(60)) async throws {
        let tick = Duration.milliseconds(20)
        let deadline = ContinuousClock.now + limit
        var previous: [UInt64: NodeStatus] = [:]
        var calm = 0
        while ContinuousClock.now < deadline {
            let commit = try await leader(within: deadline - ContinuousClock.now).status().commitIndex
            var statuses: [UInt64: NodeStatus] = [:]
            for node in nodes { statuses[node.id] = try? await node.status() }
            let applied = statuses.values.allSatisfy { $0.appliedIndex >= commit }
            let unchanged = statuses.allSatisfy { id, status in
                previous[id].map { $0.appliedIndex == status.appliedIndex && $0.firstIndex == status.firstIndex } ?? false
            }
            calm = applied && unchanged ? calm + 1 : 0
            // About 200 ms without movement: a checkpoint and compaction after the last apply has finished.
            if calm >= 10 { return }
            previous = statuses
            try await Task.sleep(for: tick)
        }
        throw BenchError.failed("the cluster did not settle (every node applied the commit index) within \(limit)")
    }
}

// MARK: In-process

extension ClusterNode: BenchNode {
    func replicate(_ command: NoSQLCommand, idempotencyKey: String?) async throws -> UInt64 {
        try await write(command, idempotencyKey: idempotencyKey).index
    }

    func getItem(table: String, key: ItemKey, consistency: ReadConsistency) async throws -> JSONValue? {
        try await read(consistency) { machine, store in try? machine.getItem(table: table, key: key, in: store).item }
    }

    func query(table: String, partition: String, limit: Int, consistency: ReadConsistency) async throws -> Int {
        try await read(consistency) { machine, store in
            try machine.query(ItemQuery(table: table, partitionKey: .string(partition), limit: limit), in: store).items.count
        }
    }

    func syncs() async throws -> NodeSyncReport { syncReport() }
}

/// Every node in this process on an in-process hub (`LocalCluster`). A
/// stopped node loses what its volatile (memory) stores held, as the exit
/// of its process would, so recovery means the same on both transports.
final class InProcessBenchCluster: BenchCluster {
    let cluster: LocalCluster
    let registry: BackendRegistry

    init(_ cluster: LocalCluster, registry: BackendRegistry) {
        self.cluster = cluster
        self.registry = registry
    }

    var nodes: [any BenchNode] { cluster.nodes }
    func node(_ id: UInt64) -> (any BenchNode)? { cluster.node(id) }

    func leader(within timeout: Duration) async throws -> any BenchNode {
        try await cluster.leader(within: timeout)
    }

    func stop(_ id: UInt64) async throws {
        await cluster.stop(id)
        let directory = cluster.config.storage.storageConfig(forNode: id).dataDirectory
        for name in [cluster.config.storage.log, cluster.config.storage.state] {
            try? registry.backend(named: name).forgetVolatileData(under: directory)
        }
    }
    func crash(_ id: UInt64) async throws { await cluster.crash(id) }
    func start(_ id: UInt64) async throws { try await cluster.start(id) }
    func shutdown() async { await cluster.stop() }

    func startJoining(_ id: UInt64) async throws { try await cluster.start(id, joining: true) }
    func addLearner(_ id: UInt64) async throws { try await cluster.leader().addLearner(id) }
    func removeNode(_ id: UInt64) async throws { try await cluster.leader().removeNode(id) }

    var restartKeepsData: Bool { (try? registry.backend(named: cluster.config.storage.log).isPersistent) ?? false }

    func bytesWritten() -> UInt64? { try? ProcessIO.writeBytes() }

    var dataDirectories: [String] {
        cluster.config.nodes.map { cluster.config.storage.storageConfig(forNode: $0.id).dataDirectory }
    }

    /// A node in this process does not die on its own: an engine failure
    /// surfaces as errors of the requests it fails.
    var failureReport: String? { nil }
}
