import Logging
import Raft
import RaftLabAPI
import RaftRuntime
import RaftLabTLS
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
    /// Configs of nodes added after the start (`addNode`).
    private let added = Mutex<[UInt64: ClusterConfig]>([:])
    private let traffic = TrafficCounter()
    private let logger: Logger?

    /// Opens and starts the first `voters` nodes in `config` (all by default);
    /// the others can join later with `start(_:joining:)`. Each node keeps a
    /// `ReplicationTimeline` (the benchmark's replication lag). Nodes log
    /// through `logger` with their id as metadata (nil: a logger of their
    /// own each, at the logging system's default level).
    public init(
        config: ClusterConfig, voters: Int? = nil, registry: BackendRegistry, seed: UInt64? = nil,
        logger: Logger? = nil
    ) async throws {
        let bootstrap = config.nodes.prefix(voters ?? config.nodes.count).map(\.id)
        self.config = config
        self.registry = registry
        self.seed = seed
        self.logger = logger
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
        let nodeConfig = config(for: id)
        var join: ClusterNode.JoinTarget?
        if joining {
            // The cluster's ID and where its members are, as a joining process learns them.
            let view = try await leader().membership()
            join = ClusterNode.JoinTarget(clusterID: view.clusterID, members: view.members.compactMap(\.record))
        }
        let transport = CountingTransport(hub.transport(for: id), traffic: traffic)
        let node = try ClusterNode(
            id: id, config: nodeConfig, transport: transport, registry: registry,
            randomSeed: seed.map { $0 &+ id }, initialVoters: joining ? [] : initialVoters, join: join,
            registrar: { [weak self] record, leader, _ in
                guard let self, let node = self.node(leader) else { throw NodeError.noLeader }
                try await node.updateRecord(record)
            },
            logger: logger.map { base in
                var logger = base
                logger[metadataKey: "node"] = "\(id)"
                return logger
            })
        try await node.start()
        running.withLock { $0[id] = node }
    }

    /// The config node `id` runs with: the cluster's, or for a node added
    /// later (`addNode`), the cluster's with that node and its own storage.
    public func config(for id: UInt64) -> ClusterConfig {
        added.withLock { $0[id] } ?? config
    }

    /// Starts a node that is not in the config, on storage of its own, as a
    /// joiner: it waits for the leader to add it (`ClusterNode.addMember`).
    /// Its stores live in `storage.dataDirectory`/node-`id`.
    @discardableResult
    public func addNode(_ node: ClusterConfig.Node, storage: ClusterConfig.Storage) async throws -> ClusterNode {
        var nodeConfig = config
        nodeConfig.storage = storage
        nodeConfig.nodes.removeAll { $0.id == node.id }
        nodeConfig.nodes.append(node)
        try nodeConfig.validate(registry: registry)
        added.withLock { $0[node.id] = nodeConfig }
        try await start(node.id, joining: true)
        guard let started = self.node(node.id) else { throw NodeError.shuttingDown }
        return started
    }

    /// Payload bytes the nodes have sent each other: log entries, and state
    /// in InstallSnapshot chunks.
    public var trafficSent: TrafficCount { traffic.count }

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
    /// raft_addr and knows every peer's. With `[tls]`, every connection is
    /// mutual TLS from `tls` (loaded from the config's files when nil).
    public static func tcpTransport(
        for id: UInt64, config: ClusterConfig, tls: TLSContexts? = nil, logger: Logger? = nil, faults: NetworkFaults? = nil
    ) throws -> TCPTransport {
        let me = try config.node(id)
        var peers: [NodeID: PeerAddress] = [:]
        for node in config.nodes where node.id != id {
            peers[node.id] = PeerAddress(host: node.raftAddress.host, port: node.raftAddress.port)
        }
        var configuration = TCPTransportConfiguration()
        if config.tls != nil, let contexts = try tls ?? config.tlsContexts(forNode: id) {
            configuration.tls = TransportTLS(contexts)
        }
        return TCPTransport(
            nodeID: id, listenAddress: PeerAddress(host: me.raftAddress.host, port: me.raftAddress.port),
            peers: peers, configuration: configuration, logger: logger ?? Logger(label: "raftlab.transport.node\(id)"), faults: faults)
    }
}

// MARK: Live engine swap in one process

extension LocalCluster {
    /// Replaces every member, one at a time, by a new node on `log` / `state`
    /// (in `dataDirectory`, default: the cluster's), while the cluster keeps
    /// serving; see `ClusterMigration`. New nodes get ids after the highest
    /// in use and, for the record, addresses on port 0 (nothing listens in
    /// process).
    @discardableResult
    public func migrate(
        toLog log: String, state: String, dataDirectory: String? = nil, report: (@Sendable (String) -> Void)? = nil,
        maxSteps: Int = 1_000
    ) async throws -> ClusterMigration.Summary {
        try await ClusterMigration(log: log, state: state, report: report)
            .run(LocalMigrationDriver(cluster: self, dataDirectory: dataDirectory), maxSteps: maxSteps)
    }
}

/// Drives `ClusterMigration` on nodes in this process.
struct LocalMigrationDriver: MigrationDriver {
    let cluster: LocalCluster
    let dataDirectory: String?

    /// Calls `body` on the leader, following leadership if it moves meanwhile.
    private func onLeader<T>(_ body: (ClusterNode) async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            do {
                return try await body(try await cluster.leader())
            } catch let error as NodeError {
                switch error {
                case .notLeader, .noLeader, .shuttingDown: break
                default: throw error
                }
                guard ContinuousClock.now < deadline else { throw error }
                try await Task.sleep(for: .milliseconds(10))
            } catch MembershipError.conflict(let why) where ContinuousClock.now < deadline {
                // Another change still being applied (a new leader applying its log): it clears.
                _ = why
                try await Task.sleep(for: .milliseconds(50))
            } catch MembershipError.outcomeUnknown(let why) where ContinuousClock.now < deadline {
                // Slow to commit (a loaded machine): every step is read back
                // from the membership and safe to ask again.
                _ = why
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    func membership() async throws -> MembershipView {
        try await onLeader { await $0.membership() }
    }

    func addLearner(_ record: MemberRecord) async throws {
        _ = try await onLeader { try await $0.addMember(record, asVoter: false) }
    }

    func promote(_ id: UInt64) async throws {
        _ = try await onLeader { leader in
            // A voter already (an earlier attempt whose outcome was unknown): done.
            if await leader.membership().member(id)?.isVoter == true { return await leader.membership() }
            return try await leader.promoteMember(id)
        }
    }

    func transferLeadership(to id: UInt64) async throws {
        _ = try await onLeader { try await $0.transferLeadership(to: id) }
    }

    func remove(_ id: UInt64) async throws {
        _ = try await onLeader { leader in
            // Gone already (an earlier attempt whose outcome was unknown): done.
            guard await leader.membership().member(id) != nil else { return await leader.membership() }
            return try await leader.removeMember(id)
        }
    }

    func startReplacement(for old: MemberView, in view: MembershipView, log: String, state: String) async throws -> MemberRecord {
        let used = view.members.map(\.id) + view.members.compactMap { $0.record?.replaces } + cluster.config.nodes.map(\.id)
            + cluster.nodes.map(\.id)
        let id = (used.max() ?? 0) + 1
        var storage = cluster.config.storage
        storage.log = log
        storage.state = state
        if let dataDirectory { storage.dataDirectory = dataDirectory }
        // In process nothing listens: distinct placeholder addresses keep records unique.
        let node = ClusterConfig.Node(
            id: id, raftAddress: HostPort(host: "in-process", port: Int(id)), httpAddress: HostPort(host: "in-process", port: 30_000 + Int(id)))
        let started = try await cluster.addNode(node, storage: storage)
        guard let record = started.ownRecord(replaces: old.id) else { throw NodeError.internal("node \(id) has no record") }
        return record
    }

    func retire(_ member: MemberView) async {
        await cluster.stop(member.id)
    }
}
