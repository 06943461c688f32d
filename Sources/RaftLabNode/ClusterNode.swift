import EncryptedStorage
import Logging
import NoSQL
import Raft
import RaftLabAPI
import RaftRuntime
import RaftTCPTransport
import StorageCore
import SyncObserver
import Synchronization

/// One RaftLab node: the Raft engine, the NoSQL state machine, and the log and
/// state stores its config names, behind the `NoSQLService` its clients use.
///
/// Neither the engine nor the state machine knows which backend it runs on:
/// the stores come from the registry by name. On restart the runtime resumes
/// from the state store's applied index and replays only the log tail after it.
public final class ClusterNode: NoSQLService {
    public let id: UInt64
    public let limits: NoSQLLimits
    public let raft: RaftNode
    public let logStore: any LogStore
    public let stateStore: any StateStore
    /// The key this node's stores are sealed with, which seals its backups
    /// too; nil when the cluster does not encrypt at rest.
    public let backupKey: EncryptionKey?
    /// When this node announced commits and applied entries (replication lag).
    public let timeline: ReplicationTimeline
    let config: ClusterConfig
    private let machine: NoSQLStateMachine
    private let metrics: NodeMetrics
    /// Sync calls on this node's data directory, seen at the system call.
    private let syncWatch: SyncWatch?
    private let network: NodeTransport
    let logger: Logger
    /// The TCP transport, whose address book follows the member records (nil in process).
    let tcp: TCPTransport?
    /// Member records as last read from the state store (see `MemberRegistry`).
    let directory = Mutex<[UInt64: MemberRecord]>([:])
    /// Where the members a joiner was told about listen, until its state holds their records.
    let joinPeers: [UInt64: MemberRecord]
    /// Corrects this node's member record through the leader when it is out of date.
    let registrar: Registrar?
    /// The membership operation running on this node (one at a time).
    let operation = Mutex<String?>(nil)
    let watcher = Mutex<Task<Void, Never>?>(nil)

    /// Sends this node's own member record to the leader (at its HTTP address),
    /// which writes it through Raft: how a follower corrects a record that no
    /// longer says where it listens or what it runs (after an offline
    /// `migrate-store`, say).
    public typealias Registrar = @Sendable (_ record: MemberRecord, _ leader: UInt64, _ leaderHTTPAddress: HostPort) async throws -> Void

    /// A running cluster this node joins: its ID and where its members listen
    /// (from `GET /cluster/members` of the `--join` address).
    public struct JoinTarget: Sendable, Hashable {
        public var clusterID: UInt64
        public var members: [MemberRecord]

        public init(clusterID: UInt64, members: [MemberRecord]) {
            self.clusterID = clusterID
            self.members = members
        }
    }

    /// Opens the node's stores and its engine; `start()` begins taking part.
    ///
    /// A new node of a new cluster starts with `initialVoters` (every node in
    /// `config` when nil); an empty set makes a new node that waits for a
    /// leader to add it (as a learner first). A node with data resumes with
    /// the membership its stores recorded either way.
    public init(
        id: UInt64, config: ClusterConfig, transport: any Transport,
        registry: BackendRegistry, randomSeed: UInt64? = nil,
        initialVoters: Set<UInt64>? = nil, join: JoinTarget? = nil, registrar: Registrar? = nil, logger: Logger? = nil
    ) throws {
        try config.validate(registry: registry)
        _ = try config.node(id)
        self.id = id
        self.config = config
        self.logger = logger ?? Logger(label: "raftlab.node\(id)")
        tcp = transport as? TCPTransport
        joinPeers = Dictionary((join?.members ?? []).map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
        self.registrar = registrar
        limits = NoSQLLimits(maxItemBytes: config.limits.maxItemBytes)
        machine = NoSQLStateMachine(limits: limits)
        let storage = config.storage.storageConfig(forNode: id)
        // With [storage] encryption, every backend is opened through encryption at rest.
        let stores = try config.storeRegistry(registry).openStores(storage)
        backupKey = try config.encryptionKey()
        let timeline = ReplicationTimeline()
        self.timeline = timeline
        logStore = stores.log
        let state = ApplyTimingStateStore(stores.state, timeline: timeline)
        stateStore = state
        syncWatch = SyncWatch(directory: storage.dataDirectory)
        let network = NodeTransport(transport, timeline: timeline)
        self.network = network
        var options = RaftNodeOptions()
        options.tickInterval = .milliseconds(config.engine.tickMilliseconds)
        options.electionTicks = config.engine.electionTicks
        options.heartbeatTicks = config.engine.heartbeatTicks
        options.snapshotThreshold = UInt64(config.engine.snapshotEntries)
        options.snapshotCatchUpEntries = UInt64(config.engine.snapshotKeepEntries)
        options.maxBatch = config.engine.maxBatch
        options.maxInflightMessages = config.engine.maxInflight
        options.randomSeed = randomSeed
        // Snapshots from the leader arrive on disk, next to the node's stores.
        options.snapshotStagingDirectory = config.storage.storageConfig(forNode: id).dataDirectory + "/snapshot-staging"
        do {
            raft = try RaftNode(
                id: id,
                // A joiner bootstraps nothing; it takes the ID of the cluster it
                // joins (0 = learn it from the leader's first message).
                configuration: join.map { ClusterConfiguration(voters: [], clusterID: $0.clusterID) }
                    ?? ClusterConfiguration(
                        voters: initialVoters ?? Set(config.nodes.map(\.id)),
                        clusterID: initialVoters?.isEmpty == true ? 0 : config.bootstrapClusterID),
                logStore: stores.log, stateStore: state,
                stateMachine: NoSQLRaftMachine(
                    machine: machine,
                    sessions: WriteSessions(windowMilliseconds: UInt64(config.limits.idempotencyWindowSeconds) * 1000)),
                transport: network,
                options: options, logger: self.logger)
        } catch {
            try? stores.log.close()
            try? stores.state.close()
            throw error
        }
        metrics = NodeMetrics(nodeID: id)
        refreshDirectory()
    }

    public func start() async throws {
        try await raft.start()
        metrics.startPolling(self)
        startWatcher()
    }

    /// Stops the engine (pending requests fail with `shuttingDown`) and closes
    /// the stores, which flushes anything a backend buffers.
    public func stop() async {
        stopWatcher()
        metrics.stopPolling()
        await raft.stop()
        try? logStore.close()
        try? stateStore.close()
    }

    /// Ends the node as a crash would (the benchmark's failover in one
    /// process): it drops off the network at once, its engine halts, and its
    /// stores are *not* closed, so nothing a backend buffers is flushed.
    /// Requests in flight fail. `closeAfterCrash()` releases the stores'
    /// files once nobody will reopen the directory in this process.
    public func crash() async {
        network.cut()
        metrics.stopPolling()
        await raft.stop()
    }

    /// Closes the stores of a crashed node, releasing their files and threads.
    public func closeAfterCrash() {
        try? logStore.close()
        try? stateStore.close()
    }

    // MARK: NoSQLService

    public func write(_ command: NoSQLCommand, idempotencyKey: String?, keyIssuedAt: UInt64?) async throws -> WriteAck {
        let started = ContinuousClock.now
        // Validate what needs no consensus before proposing: bad input never reaches the log.
        if let idempotencyKey, !WriteSessions.validate(idempotencyKey) {
            throw NoSQLError(
                .invalidArgument,
                "an Idempotency-Key must be 1 to \(WriteSessions.maxKeyBytes) printable ASCII characters without spaces")
        }
        // Proposed on the leader (followers forward), so the stamp is the leader's clock.
        let data = WriteEnvelope(
            idempotencyKey: idempotencyKey.map { Array($0.utf8) }, command: try machine.prepare(command),
            stamp: WallClock.milliseconds(), issuedAt: idempotencyKey == nil ? nil : keyIssuedAt
        ).encoded()
        let proposal: ProposalResult
        do {
            proposal = try await raft.propose(data)
        } catch RaftError.timeout {
            throw NodeError.outcomeUnknown("the write did not commit within the operation timeout")
        } catch let error as RaftError {
            throw nodeError(error)
        }
        metrics.recordWrite(since: started)
        let applied = try AppliedWrite(decoding: proposal.result)
        switch try CommandResultCodec.decode(applied.result) {
        case .success(let outcome): return WriteAck(index: applied.appliedAt, outcome: outcome)
        case .failure(let error): throw error
        }
    }

    public func read<T: Sendable>(
        _ consistency: ReadConsistency,
        _ body: @Sendable (NoSQLStateMachine, any StateStore) throws -> T
    ) async throws -> T {
        if consistency == .strong {
            do {
                try await raft.readIndex()
            } catch let error as RaftError {
                throw nodeError(error)
            }
        }
        do {
            return try body(machine, stateStore)
        } catch let error as StorageError {
            throw NodeError.internal(error.description)
        }
    }

    public func status() async throws -> NodeStatus {
        let raftStatus = await raft.status
        let leader = raftStatus.leader ?? 0
        return NodeStatus(
            nodeID: id, role: raftStatus.role.rawValue, term: raftStatus.term, leaderID: leader,
            leaderHTTPAddress: httpAddress(of: leader)?.description,
            commitIndex: raftStatus.commitIndex, appliedIndex: raftStatus.appliedIndex,
            firstIndex: raftStatus.firstIndex, lastIndex: raftStatus.lastIndex,
            logBackend: config.storage.log, stateBackend: config.storage.state, sync: config.storage.sync,
            voters: raftStatus.configuration.voters.sorted(), learners: raftStatus.configuration.learners.sorted(),
            clusterID: raftStatus.configuration.clusterID == 0 ? "" : String(raftStatus.configuration.clusterID, radix: 16),
            applyStalled: raftStatus.stall.map {
                NodeStatus.Stall(stage: $0.stage.rawValue, index: $0.index, error: $0.error, attempts: $0.attempts)
            })
    }

    /// Adds node `id` as a learner (this node must lead); returns once the change is committed.
    public func addLearner(_ id: UInt64) async throws {
        do { try await raft.addLearner(id) } catch let error as RaftError { throw nodeError(error) }
    }

    /// Removes node `id` from the membership (this node must lead), without
    /// the checks of `removeMember` (the benchmark's short-lived newcomer).
    public func removeNode(_ id: UInt64) async throws {
        do { try await raft.removeNode(id) } catch let error as RaftError { throw nodeError(error) }
    }

    /// Syncs the stores say they issued (their own counters).
    public var syncCount: UInt64 { logStore.syncCount + stateStore.syncCount }

    /// Maps engine errors to what a client can act on.
    func nodeError(_ error: RaftError) -> NodeError {
        switch error {
        case .notLeader(let hint):
            if let hint, hint != 0, let address = httpAddress(of: hint) {
                return .notLeader(leaderID: hint, leaderHTTPAddress: address)
            }
            return .noLeader
        case .timeout: return .timeout
        case .outcomeUnknown(let why): return .outcomeUnknown(why)
        case .stopped: return .shuttingDown
        case .unavailable(let why): return .unavailable(why)
        case .transferInProgress, .configurationChangeInProgress, .proposalDropped: return .noLeader
        case .storage(let storageError): return .internal(storageError.description)
        case .protocolViolation(let why), .invalidArgument(let why), .invalidConfigurationChange(let why):
            return .internal(why)
        }
    }
}

extension ClusterNode: NodeInstrumentation {
    public func syncReport() -> NodeSyncReport {
        NodeSyncReport(observed: SyncObserver.isActive ? syncWatch?.counts : nil, reported: syncCount)
    }

    public func timeline(after: UInt64) -> ReplicationTimeline.Page {
        timeline.page(after: after)
    }
}
