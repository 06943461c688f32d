import Logging
import Raft
import RaftRuntime
import RaftLabBackends
import RaftTCPTransport
import StorageCore
import Synchronization

/// Every node of a config in this process, talking through an in-process hub:
/// the original simulator's three-node cluster, and the benchmark's.
///
/// Nodes can be stopped and restarted from their stores one at a time, which
/// is how the benchmark measures recovery.
public final class LocalCluster: Sendable {
    public let config: ClusterConfig
    public let hub: InProcessHub
    private let registry: BackendRegistry
    private let seed: UInt64?
    private let initialVoters: Set<UInt64>
    private let running = Mutex<[UInt64: ClusterNode]>([:])
    /// Nodes ended by `crash(_:)`: their stores stay open until the cluster stops.
    private let crashed = Mutex<[ClusterNode]>([])

    /// Opens and starts the first `voters` nodes in `config` (all by default);
    /// the others can join later with `start(_:joining:)`. Each node keeps a
    /// `ReplicationTimeline` (the benchmark's replication lag).
    public init(
        config: ClusterConfig, voters: Int? = nil, registry: BackendRegistry = .standard, seed: UInt64? = nil
    ) async throws {
        let bootstrap = config.nodes.prefix(voters ?? config.nodes.count).map(\.id)
        self.config = config
        self.registry = registry
        self.seed = seed
        initialVoters = Set(bootstrap)
        hub = InProcessHub()
        do {
            for id in bootstrap { try await start(id) }
        } catch {
            await stop()
            throw error
        }
    }

    public var nodes: [ClusterNode] {
        running.withLock { nodes in nodes.keys.sorted().compactMap { nodes[$0] } }
    }

    public func node(_ id: UInt64) -> ClusterNode? {
        running.withLock { $0[id] }
    }

    /// Opens node `id` from its stores (new or existing) and starts it;
    /// with `joining`, a new node waits for the leader to add it.
    public func start(_ id: UInt64, joining: Bool = false) async throws {
        guard node(id) == nil else { return }
        let node = try ClusterNode(
            id: id, config: config, transport: hub.transport(for: id), registry: registry,
            randomSeed: seed.map { $0 &+ id }, initialVoters: joining ? [] : initialVoters)
        try await node.start()
        running.withLock { $0[id] = node }
    }

    /// Stops node `id` and closes its stores; its data directory stays.
    public func stop(_ id: UInt64) async {
        guard let node = running.withLock({ $0.removeValue(forKey: id) }) else { return }
        await node.stop()
    }

    /// Ends node `id` as a crash would (see `ClusterNode.crash()`). Its data
    /// directory stays, but in this process it cannot be started again
    /// before the cluster stops: its stores are still open.
    public func crash(_ id: UInt64) async {
        guard let node = running.withLock({ $0.removeValue(forKey: id) }) else { return }
        crashed.withLock { $0.append(node) }
        await node.crash()
    }

    public func stop() async {
        for id in running.withLock({ Array($0.keys) }) { await stop(id) }
        for node in crashed.withLock({ list in defer { list = [] }; return list }) { node.closeAfterCrash() }
    }

    /// Waits until one running node is leader of the highest term seen.
    public func leader(within timeout: Duration = .seconds(30)) async throws -> ClusterNode {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var best: (term: UInt64, node: ClusterNode)?
            for node in nodes {
                let status = await node.raft.status
                if status.role == .leader, status.term >= best?.term ?? 0 { best = (status.term, node) }
            }
            if let best { return best.node }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw NodeError.noLeader
    }
}

extension ClusterNode {
    /// A TCP transport for node `id` of `config`: it listens on the node's
    /// raft_addr and knows every peer's.
    public static func tcpTransport(
        for id: UInt64, config: ClusterConfig, logger: Logger? = nil, faults: NetworkFaults? = nil
    ) throws -> TCPTransport {
        let me = try config.node(id)
        var peers: [NodeID: PeerAddress] = [:]
        for node in config.nodes where node.id != id {
            peers[node.id] = PeerAddress(host: node.raftAddress.host, port: node.raftAddress.port)
        }
        return TCPTransport(
            nodeID: id, listenAddress: PeerAddress(host: me.raftAddress.host, port: me.raftAddress.port),
            peers: peers, logger: logger ?? Logger(label: "raftlab.transport.node\(id)"), faults: faults)
    }
}
