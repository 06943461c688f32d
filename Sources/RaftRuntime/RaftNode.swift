import Logging
import Raft
import StorageCore

/// Settings of a running node.
public struct RaftNodeOptions: Sendable {
    /// Ticks without a leader before campaigning (randomized up to twice this).
    public var electionTicks: Int = 10
    /// Ticks between heartbeats.
    public var heartbeatTicks: Int = 1
    /// Real time per tick.
    public var tickInterval: Duration = .milliseconds(10)
    /// When true the node keeps no clock of its own: time passes only when
    /// its owner calls `tick()` (seeded runtime tests drive the clock).
    public var manualTicks = false
    /// Proposals appended (and synced) together at most (group commit).
    public var maxBatch: Int = 1024
    /// Append messages in flight to one follower (pipelining window).
    public var maxInflightMessages: Int = 256
    /// Payload bytes per append message.
    public var maxMessageBytes: Int = 1 << 20
    /// Payload bytes of committed entries handed to the apply stage and not
    /// yet applied, at most; also the most applied in one state store batch.
    public var maxApplyBytes: Int = 16 << 20
    /// Compact the log once this many applied entries accumulate after the last compaction.
    public var snapshotThreshold: UInt64 = 10_000
    /// Applied entries kept in the log after compaction, so slightly lagging
    /// followers catch up from the log rather than a snapshot.
    public var snapshotCatchUpEntries: UInt64 = 1_000
    /// Entries dropped per log store call while compacting in the background,
    /// so an append never waits for more than one such step.
    public var compactionStep: UInt64 = 1_000
    /// Data bytes per InstallSnapshot message.
    public var maxSnapshotChunkBytes: Int = 1 << 20
    /// Snapshot chunks sent to a follower and not yet acknowledged, at most.
    public var snapshotWindow: Int = 4
    /// A snapshot transfer without progress for this long is abandoned,
    /// reported to the core, and retried after a backoff.
    public var snapshotTransferTimeout: Duration = .seconds(10)
    /// Where a follower writes a snapshot while it arrives (nil: in memory).
    /// Files left there by a crash are removed at start.
    public var snapshotStagingDirectory: String?
    /// How long `propose`, `readIndex` and membership changes wait.
    public var operationTimeout: Duration = .seconds(10)
    /// A learner is promoted once it is this close to the leader's last index.
    public var learnerCatchUpEntries: UInt64 = 100
    public var preVote = true
    public var checkQuorum = true
    /// Seed of the election-timeout generator; nil draws one from the system.
    public var randomSeed: UInt64?
    /// Told which indexes were applied to the state store, and when (after
    /// the store batch returned). Runs on the apply path: keep it cheap.
    public var onApplied: (@Sendable (ClosedRange<UInt64>, ContinuousClock.Instant) -> Void)?

    public init() {}
}

/// What `status` reports.
public struct RaftStatus: Sendable, Hashable {
    public var id: NodeID
    public var role: RaftRole
    public var term: UInt64
    public var leader: NodeID?
    public var commitIndex: UInt64
    public var appliedIndex: UInt64
    public var firstIndex: UInt64
    public var lastIndex: UInt64
    public var configuration: ClusterConfiguration
    public var isRunning: Bool
    /// Messages from nodes of another cluster, dropped unread.
    public var foreignMessagesDropped: UInt64 = 0
    /// Set while the node cannot write its log or apply committed entries.
    public var stall: NodeStall?
}

/// The leader's view of one member's log, for membership checks and
/// `member list`: how far it matches, and how long ago it was last heard from.
public struct MemberReplication: Sendable, Hashable {
    public var match: UInt64
    public var isLearner: Bool
    /// Time since the last message from this member arrived (nil: never
    /// heard from since this node started).
    public var sinceLastHeard: Duration?
}

/// A committed and applied proposal.
public struct ProposalResult: Sendable, Hashable {
    public var index: UInt64
    public var term: UInt64
    /// What the state machine returned for the command.
    public var result: [UInt8]
}

/// The runtime: drives a `RaftCore` with real time, a `LogStore`, a
/// background apply stage over a `StateStore`, and a `Transport`.
///
/// One long-lived loop works off the node's mailbox (peer messages, ticks,
/// nudges), taking everything that accumulated in one actor turn, then each
/// `Ready` in turn: messages out, committed entries to the apply stage,
/// entries and hard state to the log (one synced append for all proposals
/// that arrived meanwhile: group commit), acknowledgments out, `advance`.
///
/// What waits for what, and why:
/// - The log append is the only synced write per `Ready` (the hard state
///   rides along; a commit index change alone is never written on its own).
/// - The leader sends its appends before its own write is durable and counts
///   itself once it is, in `advance`, without waiting for any apply.
/// - Votes and append acknowledgments leave only after the write they
///   promise returned.
/// - Applying runs beside the next append (`ApplyStage`) and answers the
///   clients; the state store syncs only at checkpoints.
/// - Compaction (checkpoint, then dropping log entries in steps) and the
///   reading of snapshots for followers run on their own queues, off the
///   write path.
public actor RaftNode {
    public nonisolated let id: NodeID
    private let core: RaftCore
    private let logStore: any LogStore
    private let stateStore: any StateStore
    private let transport: any Transport
    private let options: RaftNodeOptions
    private let logger: Logger

    private var running = false
    private var stopped = false
    private var failure: RaftError?
    private let mailbox = Mailbox()
    private let applier: ApplyStage
    private var loop: Task<Void, Never>?
    private var ticker: Task<Void, Never>?
    /// Log writes (the synced appends, snapshot installs): one at a time, on a
    /// Dispatch thread so an fsync never holds a thread of the cooperative pool.
    private let io: BlockingIOQueue
    /// Checkpoints and compaction, beside the log writes.
    private let background: BlockingIOQueue
    private var compaction: Task<Void, Never>?
    /// Applied index at the last compaction check.
    private var lastCompactionCheck: UInt64 = 0
    private let snapshots: SnapshotSender

    private struct PendingProposal {
        var data: [UInt8]
        var continuation: CheckedContinuation<ProposalResult, any Error>
    }

    private struct Waiter {
        var term: UInt64
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<ProposalResult, any Error>
    }

    private struct ReadWaiter {
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<UInt64, any Error>
    }

    private var queuedProposals: [PendingProposal] = []
    /// Proposals in the log, not yet handed to the apply stage, by index.
    private var waiters: [UInt64: Waiter] = [:]
    /// ReadIndex requests waiting for the leader's confirmation, by context.
    private var reads: [[UInt8]: ReadWaiter] = [:]
    private var readCounter: UInt64 = 0
    /// Drawn anew by every instance: read contexts of an earlier run of this
    /// node (whose responses may still be queued somewhere) never match ours.
    private let bootNonce = UInt64.random(in: 1...UInt64.max)
    private var receiver: SnapshotReceiver
    private var receivedSnapshots: [UInt64: (term: UInt64, data: StagedSnapshot)] = [:]
    private var tickCount: UInt64 = 0
    private var foreignMessagesDropped: UInt64 = 0
    private var foreignWarnings: [NodeID: ContinuousClock.Instant] = [:]
    /// When a message from each peer last arrived (see `replication`).
    private var lastHeard: [NodeID: ContinuousClock.Instant] = [:]
    /// Set while the log cannot be written (see `persist(_:snapshotData:)`).
    private var logStall: NodeStall?

    /// Opens a node over its stores: a new node starts with `configuration`
    /// (the bootstrap membership; empty for a node that will join a running
    /// cluster as a learner), a restarted one from what its stores hold.
    public init(
        id: NodeID, configuration: ClusterConfiguration,
        logStore: any LogStore, stateStore: any StateStore,
        stateMachine: any StateMachine, transport: any Transport,
        options: RaftNodeOptions = RaftNodeOptions(),
        logger: Logger? = nil
    ) throws {
        self.id = id
        self.logStore = logStore
        self.stateStore = stateStore
        self.transport = transport
        self.options = options
        self.logger = logger ?? Logger(label: "raftlab.raft.node\(id)")
        io = BlockingIOQueue(label: "raftlab.raft.node\(id).io")
        background = BlockingIOQueue(label: "raftlab.raft.node\(id).compaction")
        let stateComplete = try ReadyPersistence.reconcile(log: logStore, state: stateStore)
        let bootstrapped = try Bootstrap.bootstrapIfNew(log: logStore, state: stateStore, configuration: configuration)
        let stored = try Bootstrap.storedConfiguration(log: logStore, state: stateStore)
        let applied = try stateStore.appliedPosition().index
        let membership = stored ?? configuration
        if !bootstrapped, let stored, !configuration.voters.isEmpty,
            stored.voters != configuration.voters || stored.learners != configuration.learners
                || stored.clusterID != configuration.clusterID
        {
            // The stores are the truth: a config file may be out of date (after
            // membership changes) or belong to another cluster.
            self.logger.notice(
                "starting with the membership the stores hold, not the one configured",
                metadata: [
                    "stored": "\(Self.describe(stored))", "configured": "\(Self.describe(configuration))",
                ])
        }
        let config = RaftCoreConfig(
            id: id, electionTick: options.electionTicks, heartbeatTick: options.heartbeatTicks,
            maxMessageBytes: options.maxMessageBytes, maxInflightMessages: options.maxInflightMessages,
            maxApplyBytes: options.maxApplyBytes, preVote: options.preVote, checkQuorum: options.checkQuorum)
        let random = options.randomSeed.map { SplitMix64(seed: $0) } ?? SplitMix64()
        let compacted = try logStore.snapshotIndex()
        if !stateComplete {
            self.logger.warning(
                "the state store is behind the log's compaction point (its data was lost); asking the leader for a snapshot",
                metadata: ["applied": "\(applied)", "log_compacted_through": "\(compacted)"])
        }
        core = try RaftCore(
            config: config, storage: logStore, applied: stateComplete ? applied : compacted,
            configuration: membership, random: random, awaitingSnapshot: !stateComplete)
        lastCompactionCheck = applied
        let mailbox = self.mailbox
        applier = ApplyStage(
            label: "raftlab.raft.node\(id).apply", machine: stateMachine, store: stateStore, applied: applied,
            logger: self.logger, onApplied: options.onApplied, onProgress: { mailbox.nudge() })
        snapshots = SnapshotSender(
            label: "raftlab.raft.node\(id).snapshots", store: stateStore, transport: transport,
            maxChunkBytes: options.maxSnapshotChunkBytes, window: options.snapshotWindow,
            timeout: options.snapshotTransferTimeout, logger: self.logger,
            onFailure: { mailbox.snapshotFailed(to: $0) })
        if let staging = options.snapshotStagingDirectory, FileSystem.isDirectory(staging) {
            for name in try FileSystem.listDirectory(staging) where name.hasSuffix(".staging") {
                try? FileSystem.removeTree(staging + "/" + name)
            }
        }
        // Staged data is kept as the state store keeps its own (sealed, for an encrypting store).
        receiver = SnapshotReceiver(stagingDirectory: options.snapshotStagingDirectory, sealer: stateStore.stagingSealer)
    }

    /// Starts receiving messages and ticking.
    public func start() async throws {
        guard !running, !stopped else { return }
        running = true
        let mailbox = self.mailbox
        try await transport.start(
            receive: { message in mailbox.post(message) }, unreachable: { peer in mailbox.unreachable(peer) })
        let interval = options.tickInterval
        if !options.manualTicks {
            ticker = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    mailbox.tick()
                }
            }
        }
        loop = Task { await self.run() }
        logger.info("raft node started", metadata: ["id": "\(id)", "term": "\(core.term)", "applied": "\(core.appliedIndex)"])
        mailbox.nudge()
    }

    /// Stops the node: pending operations fail with `.stopped`. Returns once
    /// nothing of this node touches the stores any more (the loop, the apply
    /// stage, compaction and snapshot reads are done), so the caller may
    /// close them. The stores stay open (the caller owns them).
    public func stop() async {
        guard !stopped else { return }
        stopped = true
        running = false
        ticker?.cancel()
        mailbox.close()
        await loop?.value
        await transport.shutdown()
        applier.stopRetrying()
        await applier.drain()
        await compaction?.value
        await snapshots.stop()
        receiver.reset()
        for received in receivedSnapshots.values { received.data.discard() }
        receivedSnapshots = [:]
        failAll(.stopped)
        applier.fail(.stopped)
        logger.info("raft node stopped", metadata: ["id": "\(id)"])
    }

    /// Advances the node's clock by one tick (with `manualTicks`).
    public nonisolated func tick() {
        mailbox.tick()
    }

    public var status: RaftStatus {
        let s = core.status
        return RaftStatus(
            id: id, role: s.role, term: s.term, leader: s.leader, commitIndex: s.commit, appliedIndex: applier.applied,
            firstIndex: s.firstIndex, lastIndex: s.lastIndex, configuration: s.configuration, isRunning: running,
            foreignMessagesDropped: foreignMessagesDropped, stall: stall)
    }

    /// Why the node makes no progress now, if it does not.
    public var stall: NodeStall? { logStall ?? applier.stall }

    /// The leader's view of every member (empty on other roles): membership
    /// changes check it so they never leave the voters without a live quorum.
    public var replication: [NodeID: MemberReplication] {
        guard core.role == .leader else { return [:] }
        let now = ContinuousClock.now
        var members: [NodeID: MemberReplication] = [:]
        for member in core.configuration.members {
            guard let progress = core.progress(of: member) else { continue }
            members[member] = MemberReplication(
                match: progress.match, isLearner: progress.isLearner,
                sinceLastHeard: member == id ? .zero : lastHeard[member].map { now - $0 })
        }
        return members
    }

    static func describe(_ configuration: ClusterConfiguration) -> String {
        "voters \(configuration.voters.sorted()), learners \(configuration.learners.sorted()), cluster \(String(configuration.clusterID, radix: 16))"
    }

    // MARK: Client operations

    /// Replicates `data`; returns once it is committed and applied here.
    public func propose(_ data: [UInt8]) async throws -> ProposalResult {
        try checkRunning()
        guard core.role == .leader else { throw RaftError.notLeader(leaderHint: core.status.leader) }
        if let stall { throw RaftError.unavailable(stall.description) }
        return try await withCheckedThrowingContinuation { continuation in
            queuedProposals.append(PendingProposal(data: data, continuation: continuation))
            mailbox.nudge()
        }
    }

    /// A linearizable read barrier: returns an applied index such that a read
    /// of the local state store now sees every write committed before the call.
    @discardableResult
    public func readIndex() async throws -> UInt64 {
        try checkRunning()
        if let stall { throw RaftError.unavailable(stall.description) }
        readCounter += 1
        let context = id.bigEndianBytes + bootNonce.bigEndianBytes + readCounter.bigEndianBytes
        try core.readIndex(context: context)
        let deadline = ContinuousClock.now + options.operationTimeout
        return try await withCheckedThrowingContinuation { continuation in
            reads[context] = ReadWaiter(deadline: deadline, continuation: continuation)
            mailbox.nudge()
        }
    }

    /// Asks the leader (this node) to hand leadership to `target`; returns once
    /// `target` leads.
    public func transferLeadership(to target: NodeID) async throws {
        try checkRunning()
        try core.transferLeadership(to: target)
        mailbox.nudge()
        try await waitUntil { self.core.leader == target && self.core.role != .leader }
    }

    /// Adds `node` as a learner, waits until it has caught up, then promotes it.
    public func addVoter(_ node: NodeID) async throws {
        try checkRunning()
        if !core.configuration.members.contains(node) {
            try await addLearner(node)
        }
        let lag = options.learnerCatchUpEntries
        try await waitUntil { self.isCaughtUp(node, lag: lag) }
        try await changeConfiguration(.addVoter(node))
    }

    /// Adds a non-voting member that receives the log.
    public func addLearner(_ node: NodeID) async throws {
        try await changeConfiguration(.addLearner(node))
    }

    /// Removes a voter or learner. A leader that removes itself steps down.
    public func removeNode(_ node: NodeID) async throws {
        try await changeConfiguration(.removeNode(node))
    }

    // MARK: Driving the core

    private func checkRunning() throws {
        if let failure { throw failure }
        guard running, !stopped else { throw RaftError.stopped }
    }

    private func isCaughtUp(_ node: NodeID, lag: UInt64) -> Bool {
        guard let progress = core.progress(of: node), let last = try? core.lastIndex() else { return false }
        return progress.match + lag >= last
    }

    private func changeConfiguration(_ change: ConfigurationChange) async throws {
        try checkRunning()
        let index = try core.proposeConfigurationChange(change)
        let term = core.term
        let deadline = ContinuousClock.now + options.operationTimeout
        _ = try await withCheckedThrowingContinuation { continuation in
            wait(for: index, Waiter(term: term, deadline: deadline, continuation: continuation))
            mailbox.nudge()
        }
        logger.info("membership changed", metadata: ["change": "\(change)", "index": "\(index)"])
    }

    /// Polls `condition` every tick until it holds or the operation times out.
    private func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + options.operationTimeout
        while !condition() {
            try checkRunning()
            guard ContinuousClock.now < deadline else { throw RaftError.timeout }
            try await Task.sleep(for: options.tickInterval)
        }
    }

    /// The node's loop: one batch from the mailbox, then every Ready.
    private func run() async {
        while running, let batch = await mailbox.next() {
            do {
                try take(batch)
                while running, let ready = try core.ready(maxCommittedBytes: applyBudget) {
                    try await handle(ready)
                    guard running else { return }
                    try core.advance(ready)
                    // What arrived during the write joins the next Ready.
                    try take(mailbox.take())
                }
                startCompactionIfDue()
            } catch {
                fail(error)
                return
            }
        }
    }

    /// Steps the batch's messages and ticks into the core and proposes what queued.
    private func take(_ batch: Mailbox.Batch) throws {
        if let failure = applier.failure { throw failure }
        if !batch.messages.isEmpty {
            let now = ContinuousClock.now
            for message in batch.messages { lastHeard[message.from] = now }
        }
        for message in batch.messages {
            try step(message)
        }
        for follower in batch.snapshotFailures { core.reportSnapshotFailure(to: follower) }
        for peer in batch.unreachable { core.reportUnreachable(peer) }
        // Ticks that piled up while the loop was busy count as one, as a Go
        // ticker drops them for etcd: replayed as a burst after a stall, they
        // would fire election timeouts although the heartbeats that arrived
        // meanwhile are in this very batch.
        for _ in 0..<min(batch.ticks, 1) {
            tickCount += 1
            try core.tick()
            if tickCount % 10 == 0 {
                expireWaiters()
                snapshots.checkProgress()
            }
        }
        try proposeQueued()
    }

    private func step(_ message: Message) throws {
        let cluster = core.configuration.clusterID
        if cluster != 0, message.clusterID != 0, message.clusterID != cluster {
            dropForeign(message)
            return
        }
        if message.kind == .snapshotAck {
            snapshots.acknowledge(message)
        } else if message.kind == .snapshot, let chunk = message.snapshot {
            let complete = try receiver.add(chunk, from: message.from)
            // Acknowledge what is written, so the leader sends the next chunks.
            let written = complete.map { _ in chunk.offset + UInt64(chunk.data.count) } ?? receiver.received
            try send([Message(
                kind: .snapshotAck, from: id, to: message.from, term: message.term,
                snapshot: SnapshotChunk(index: chunk.index, term: chunk.term, configuration: chunk.configuration, offset: written))])
            guard let complete else { return }
            if let replaced = receivedSnapshots[complete.metadata.index] { replaced.data.discard() }
            receivedSnapshots[complete.metadata.index] = (complete.metadata.term, complete.data)
            var whole = message
            whole.snapshot = SnapshotChunk(
                index: complete.metadata.index, term: complete.metadata.term,
                configuration: complete.metadata.configuration)
            try core.step(whole)
        } else {
            try core.step(message)
        }
    }

    /// A message of another cluster: never stepped, and said so (at most
    /// once a minute per sender, so a misconfigured peer cannot flood the log).
    private func dropForeign(_ message: Message) {
        foreignMessagesDropped += 1
        let now = ContinuousClock.now
        if let last = foreignWarnings[message.from], now - last < .seconds(60) { return }
        foreignWarnings[message.from] = now
        logger.warning(
            "dropped a message from another cluster",
            metadata: [
                "from": "\(message.from)", "their_cluster": "\(String(message.clusterID, radix: 16))",
                "our_cluster": "\(String(core.configuration.clusterID, radix: 16))", "kind": "\(message.kind)",
            ])
    }

    /// Committed bytes the apply stage can take now.
    private var applyBudget: Int {
        max(0, options.maxApplyBytes - applier.pendingBytes)
    }

    private func proposeQueued() throws {
        while !queuedProposals.isEmpty {
            let batch = Array(queuedProposals.prefix(options.maxBatch))
            queuedProposals.removeFirst(batch.count)
            let range: ClosedRange<UInt64>
            do {
                range = try core.propose(batch.map(\.data))
            } catch let error as RaftError {
                for proposal in batch { proposal.continuation.resume(throwing: error) }
                continue
            }
            let deadline = ContinuousClock.now + options.operationTimeout
            for (index, proposal) in zip(range, batch) {
                wait(for: index, Waiter(term: core.term, deadline: deadline, continuation: proposal.continuation))
            }
        }
    }

    /// Registers the proposer of the entry this leader just appended at
    /// `index`. A proposer may still wait there: it proposed in an earlier
    /// term of ours, a leader with a shorter log cut its entry, and we lead
    /// again and append over it. Its entry is gone from this log but may
    /// linger on another node, so its fate is unknown: it is answered as
    /// such, never left hanging (a lost continuation hangs its client and
    /// the HTTP server's drain at shutdown).
    private func wait(for index: UInt64, _ waiter: Waiter) {
        if let earlier = waiters.updateValue(waiter, forKey: index) {
            earlier.continuation.resume(throwing: RaftError.outcomeUnknown("a later leader replaced the entry at \(index)"))
        }
    }

    private func handle(_ ready: Ready) async throws {
        try send(ready.messages)
        if !ready.committedEntries.isEmpty {
            var proposals: [UInt64: ApplyStage.Proposal] = [:]
            for entry in ready.committedEntries {
                if let waiter = waiters.removeValue(forKey: entry.index) {
                    proposals[entry.index] = ApplyStage.Proposal(term: waiter.term, continuation: waiter.continuation)
                }
            }
            applier.submit(ready.committedEntries, proposals: proposals)
        }
        if ready.mustSync {
            let snapshotData = if let snapshot = ready.snapshot { try await prepareInstall(of: snapshot) } else { nil as StagedSnapshot? }
            try await persist(ready, snapshotData: snapshotData)
            snapshotData?.discard()
            if let snapshot = ready.snapshot { installed(snapshot) }
        }
        try send(ready.messagesAfterPersist)
        for state in ready.readStates {
            guard let read = reads.removeValue(forKey: state.context) else { continue }
            applier.whenApplied(state.index, read.continuation)
        }
    }

    /// Writes the Ready's log entries, hard state and snapshot, retrying
    /// with a backoff while the store fails (a full disk, an I/O error)
    /// instead of stopping the node: nothing after this write may happen
    /// before it (acknowledgments, `advance`), so the loop waits here, the
    /// node takes no proposals (`stall`), and it resumes by itself once the
    /// store takes the write. Each attempt writes the whole Ready again: an
    /// append replaces what a failed attempt may have left, a restore is
    /// atomic and reads the staged data from its start.
    private func persist(_ ready: Ready, snapshotData: StagedSnapshot?) async throws {
        let (log, state) = (logStore, stateStore)
        var attempts = 0
        while true {
            do {
                try await io.run { try ReadyPersistence.persist(ready, log: log, state: state, snapshotData: snapshotData) }
                if attempts > 0 {
                    logStall = nil
                    logger.notice("log writes resumed", metadata: ["attempts": "\(attempts + 1)"])
                }
                return
            } catch {
                guard running, !(error is RaftError) else { throw error }
                attempts += 1
                let index = ready.snapshot?.index ?? ready.entries.first?.index ?? core.persistedIndex
                logStall = NodeStall(stage: .log, index: index, error: "\(error)", attempts: attempts)
                if attempts == 1 {
                    logger.error(
                        "cannot write the log; the node takes no writes and retries until the store takes it",
                        metadata: ["index": "\(index)", "error": "\(error)"])
                }
                try await Task.sleep(for: .milliseconds(min(1_000, 10 << min(attempts - 1, 7))))
            }
        }
    }

    /// The data of a snapshot from the leader, once nothing else touches the
    /// state store: every entry handed over before it is applied, and no
    /// compaction runs.
    private func prepareInstall(of snapshot: SnapshotMetadata) async throws -> StagedSnapshot {
        guard let received = receivedSnapshots[snapshot.index], received.term == snapshot.term else {
            throw RaftError.protocolViolation("no data for snapshot \(snapshot.index)/\(snapshot.term)")
        }
        for (index, older) in receivedSnapshots where index < snapshot.index { older.data.discard() }
        receivedSnapshots = receivedSnapshots.filter { $0.key > snapshot.index }
        await applier.drain()
        await compaction?.value
        return received.data
    }

    /// The snapshot replaced the state store and cut the log.
    private func installed(_ snapshot: SnapshotMetadata) {
        applier.installed(through: snapshot.index)
        lastCompactionCheck = snapshot.index
        logger.info("installed snapshot", metadata: ["index": "\(snapshot.index)", "term": "\(snapshot.term)"])
        // Proposals covered by the snapshot may well have committed: their
        // fate is unknown here, so they must not be reported as dropped
        // (a client would retry and apply them twice). `.timeout` says
        // "may still have taken effect".
        for (index, waiter) in waiters where index <= snapshot.index {
            waiters[index] = nil
            waiter.continuation.resume(throwing: RaftError.outcomeUnknown("a snapshot from the leader replaced the state"))
        }
    }

    /// Starts a checkpoint and compaction in the background once enough was
    /// applied since the last look; appends and applies go on meanwhile.
    private func startCompactionIfDue() {
        // Applied and in this node's own log: committed entries may be
        // applied before their local append lands.
        let applied = min(applier.applied, core.persistedIndex)
        let every = max(1, options.snapshotThreshold / 8)
        guard compaction == nil, applied >= lastCompactionCheck + every else { return }
        lastCompactionCheck = applied
        let (log, state, queue) = (logStore, stateStore, background)
        let (threshold, keep, step) = (options.snapshotThreshold, options.snapshotCatchUpEntries, options.compactionStep)
        compaction = Task {
            let outcome = await Result {
                try await queue.run {
                    try ReadyPersistence.compactIfNeeded(
                        log: log, state: state, appliedIndex: applied, threshold: threshold, keep: keep, step: step)
                }
            }
            self.compactionDone(outcome)
        }
    }

    /// A failed checkpoint or compaction leaves the log longer than it
    /// needs to be, nothing worse (the log is cut only after the checkpoint
    /// it depends on succeeded): it is logged and tried again at the next
    /// check, never a reason to stop the node.
    private func compactionDone(_ outcome: Result<Bool, any Error>) {
        compaction = nil
        if case .failure(let error) = outcome, running {
            logger.warning("compaction failed; it is retried later", metadata: ["error": "\(error)"])
        }
    }

    private func send(_ messages: [Message]) throws {
        guard !messages.isEmpty else { return }
        var outgoing: [Message] = []
        outgoing.reserveCapacity(messages.count)
        let cluster = core.configuration.clusterID
        for var message in messages {
            message.clusterID = cluster
            if message.kind == .snapshot {
                // The core asks for a snapshot: read and stream the state
                // store's off this loop.
                snapshots.send(message, fallback: core.configuration)
            } else {
                outgoing.append(message)
            }
        }
        if !outgoing.isEmpty { transport.send(outgoing) }
    }

    private func expireWaiters() {
        let now = ContinuousClock.now
        for (index, waiter) in waiters where waiter.deadline <= now {
            waiters[index] = nil
            waiter.continuation.resume(throwing: RaftError.timeout)
        }
        for (context, read) in reads where read.deadline <= now {
            reads[context] = nil
            read.continuation.resume(throwing: RaftError.timeout)
        }
    }

    private func fail(_ error: any Error) {
        let raftError = RaftError(error)
        guard !stopped else { return }
        logger.error("raft node failed; stopping", metadata: ["error": "\(raftError)"])
        failure = raftError
        running = false
        ticker?.cancel()
        mailbox.close()
        failAll(raftError)
        applier.fail(raftError)
    }

    /// Fails everything waiting. Queued proposals never reached the log (safe
    /// to retry); proposals in the log may still commit elsewhere, so their
    /// outcome is unknown.
    private func failAll(_ error: RaftError) {
        for proposal in queuedProposals { proposal.continuation.resume(throwing: error) }
        queuedProposals = []
        for waiter in waiters.values { waiter.continuation.resume(throwing: RaftError.outcomeUnknown("\(error)")) }
        waiters = [:]
        for read in reads.values { read.continuation.resume(throwing: error) }
        reads = [:]
    }
}

extension Result where Failure == any Error {
    init(_ body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
