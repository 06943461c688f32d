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
    /// Proposals appended (and synced) together at most (group commit).
    public var maxBatch: Int = 1024
    /// Append messages in flight to one follower (pipelining window).
    public var maxInflightMessages: Int = 256
    /// Payload bytes per append message.
    public var maxMessageBytes: Int = 1 << 20
    /// Payload bytes of committed entries applied in one state store batch.
    public var maxApplyBytes: Int = 16 << 20
    /// Compact the log once this many applied entries accumulate after the last compaction.
    public var snapshotThreshold: UInt64 = 10_000
    /// Applied entries kept in the log after compaction, so slightly lagging
    /// followers catch up from the log rather than a snapshot.
    public var snapshotCatchUpEntries: UInt64 = 1_000
    /// Data bytes per InstallSnapshot message.
    public var maxSnapshotChunkBytes: Int = 1 << 20
    /// How long `propose`, `readIndex` and membership changes wait.
    public var operationTimeout: Duration = .seconds(10)
    /// A learner is promoted once it is this close to the leader's last index.
    public var learnerCatchUpEntries: UInt64 = 100
    public var preVote = true
    public var checkQuorum = true
    /// Seed of the election-timeout generator; nil draws one from the system.
    public var randomSeed: UInt64?

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
}

/// A committed and applied proposal.
public struct ProposalResult: Sendable, Hashable {
    public var index: UInt64
    public var term: UInt64
    /// What the state machine returned for the command.
    public var result: [UInt8]
}

/// The runtime: drives a `RaftCore` with real time, a `LogStore`, a
/// `StateStore`-backed apply loop and a `Transport`.
///
/// Proposals that arrive while the node is busy are appended together: one
/// log append, one sync and one append message per follower for the whole
/// batch (group commit). The leader sends appends before its own write is
/// durable and counts itself once it is. Committed entries are applied in
/// batches through one `WriteBatch` each.
public actor RaftNode {
    public nonisolated let id: NodeID
    private let core: RaftCore
    private let logStore: any LogStore
    private let stateStore: any StateStore
    private let stateMachine: any StateMachine
    private let transport: any Transport
    private let options: RaftNodeOptions
    private let logger: Logger

    private var running = false
    private var stopped = false
    private var failure: RaftError?
    private var tasks: [Task<Void, Never>] = []
    private var inbox: AsyncStream<Message>.Continuation?
    private var flushScheduled = false
    /// True while `flush` works off Readies; a Ready's disk work is awaited,
    /// so this keeps a second flush from starting meanwhile.
    private var flushing = false
    /// Set when something asked for a flush while one was running.
    private var flushRequested = false
    /// Applied index at the last compaction check.
    private var lastCompactionCheck: UInt64 = 0
    /// Where the blocking store calls run, so an fsync never holds a thread
    /// of Swift's cooperative pool (two threads on two cores, shared by every
    /// node in the process).
    private let io: BlockingIOQueue

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
        var index: UInt64?
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<UInt64, any Error>
    }

    private var queuedProposals: [PendingProposal] = []
    private var waiters: [UInt64: Waiter] = [:]
    private var reads: [[UInt8]: ReadWaiter] = [:]
    private var readCounter: UInt64 = 0
    private var assembler = SnapshotAssembler()
    private var receivedSnapshots: [UInt64: (term: UInt64, data: [UInt8])] = [:]
    private var tickCount: UInt64 = 0

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
        self.stateMachine = stateMachine
        self.transport = transport
        self.options = options
        self.logger = logger ?? Logger(label: "raftlab.raft.node\(id)")
        io = BlockingIOQueue(label: "raftlab.raft.node\(id).io")
        try ReadyPersistence.reconcile(log: logStore, state: stateStore)
        let applied = try stateStore.appliedPosition().index
        let membership = try CommittedEntryApplier.configuration(in: stateStore) ?? configuration
        let config = RaftCoreConfig(
            id: id, electionTick: options.electionTicks, heartbeatTick: options.heartbeatTicks,
            maxMessageBytes: options.maxMessageBytes, maxInflightMessages: options.maxInflightMessages,
            maxApplyBytes: options.maxApplyBytes, preVote: options.preVote, checkQuorum: options.checkQuorum)
        let random = options.randomSeed.map { SplitMix64(seed: $0) } ?? SplitMix64()
        core = try RaftCore(config: config, storage: logStore, applied: applied, configuration: membership, random: random)
    }

    /// Starts receiving messages and ticking.
    public func start() async throws {
        guard !running, !stopped else { return }
        running = true
        let (stream, continuation) = AsyncStream<Message>.makeStream()
        inbox = continuation
        try await transport.start(receive: { message in continuation.yield(message) })
        tasks.append(Task { [weak self] in
            for await message in stream {
                guard let self else { return }
                await self.receive(message)
            }
        })
        let interval = options.tickInterval
        tasks.append(Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self, await self.tick() else { return }
            }
        })
        logger.info("raft node started", metadata: ["id": "\(id)", "term": "\(core.term)", "applied": "\(core.appliedIndex)"])
        scheduleFlush()
    }

    /// Stops the node: pending operations fail with `.stopped`. The stores stay
    /// open (the caller owns them).
    public func stop() async {
        guard !stopped else { return }
        stopped = true
        running = false
        for task in tasks { task.cancel() }
        tasks = []
        inbox?.finish()
        inbox = nil
        await transport.shutdown()
        failAll(.stopped)
        logger.info("raft node stopped", metadata: ["id": "\(id)"])
    }

    public var status: RaftStatus {
        let s = core.status
        return RaftStatus(
            id: id, role: s.role, term: s.term, leader: s.leader, commitIndex: s.commit, appliedIndex: s.applied,
            firstIndex: s.firstIndex, lastIndex: s.lastIndex, configuration: s.configuration, isRunning: running)
    }

    // MARK: Client operations

    /// Replicates `data`; returns once it is committed and applied here.
    public func propose(_ data: [UInt8]) async throws -> ProposalResult {
        try checkRunning()
        guard core.role == .leader else { throw RaftError.notLeader(leaderHint: core.status.leader) }
        return try await withCheckedThrowingContinuation { continuation in
            queuedProposals.append(PendingProposal(data: data, continuation: continuation))
            scheduleFlush()
        }
    }

    /// A linearizable read barrier: returns an applied index such that a read
    /// of the local state store now sees every write committed before the call.
    @discardableResult
    public func readIndex() async throws -> UInt64 {
        try checkRunning()
        readCounter += 1
        let context = id.bigEndianBytes + readCounter.bigEndianBytes
        try core.readIndex(context: context)
        let deadline = ContinuousClock.now + options.operationTimeout
        return try await withCheckedThrowingContinuation { continuation in
            reads[context] = ReadWaiter(index: nil, deadline: deadline, continuation: continuation)
            scheduleFlush()
        }
    }

    /// Asks the leader (this node) to hand leadership to `target`; returns once
    /// `target` leads.
    public func transferLeadership(to target: NodeID) async throws {
        try checkRunning()
        try core.transferLeadership(to: target)
        scheduleFlush()
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
        scheduleFlush()
        _ = try await withCheckedThrowingContinuation { continuation in
            waiters[index] = Waiter(term: term, deadline: deadline, continuation: continuation)
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

    private func receive(_ message: Message) {
        guard running else { return }
        do {
            if message.kind == .snapshot, let chunk = message.snapshot {
                guard let complete = assembler.add(chunk, from: message.from) else { return }
                receivedSnapshots[complete.metadata.index] = (complete.metadata.term, complete.data)
                var whole = message
                whole.snapshot = SnapshotChunk(
                    index: complete.metadata.index, term: complete.metadata.term,
                    configuration: complete.metadata.configuration)
                try core.step(whole)
            } else {
                try core.step(message)
            }
        } catch {
            fail(error)
            return
        }
        scheduleFlush()
    }

    /// Returns false once the node stopped.
    private func tick() -> Bool {
        guard running else { return false }
        tickCount += 1
        do {
            try core.tick()
        } catch {
            fail(error)
            return false
        }
        if tickCount % 10 == 0 { expireWaiters() }
        scheduleFlush()
        return true
    }

    private func scheduleFlush() {
        if flushing {
            // The running flush looks again before it ends.
            flushRequested = true
            return
        }
        guard !flushScheduled, running else { return }
        flushScheduled = true
        Task { await self.flush() }
    }

    /// Feeds queued proposals to the core and works off every Ready, one at a
    /// time. The disk work of a Ready runs on `io` while this actor keeps
    /// stepping messages and queueing proposals, which then share the next
    /// Ready: one append and one sync for all of them (group commit).
    private func flush() async {
        flushScheduled = false
        guard running, !flushing else { return }
        flushing = true
        defer { flushing = false }
        do {
            repeat {
                flushRequested = false
                try proposeQueued()
                while running, let ready = try core.ready() {
                    try await handle(ready)
                    guard running else { return }
                    try core.advance(ready)
                    try proposeQueued()
                }
                try await compactIfDue()
            } while flushRequested && running
        } catch {
            fail(error)
        }
    }

    /// Compacts the log once enough has been applied since the last check;
    /// checking costs a trip to the I/O queue, so not on every flush.
    private func compactIfDue() async throws {
        let applied = core.appliedIndex
        let every = max(1, options.snapshotThreshold / 8)
        guard applied >= lastCompactionCheck + every else { return }
        lastCompactionCheck = applied
        let (log, state, threshold, keep) = (logStore, stateStore, options.snapshotThreshold, options.snapshotCatchUpEntries)
        try await io.run {
            try ReadyPersistence.compactIfNeeded(log: log, state: state, appliedIndex: applied, threshold: threshold, keep: keep)
        }
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
                waiters[index] = Waiter(term: core.term, deadline: deadline, continuation: proposal.continuation)
            }
        }
    }

    private func handle(_ ready: Ready) async throws {
        try send(ready.messages)
        var snapshotData: [UInt8]?
        if let snapshot = ready.snapshot {
            guard let received = receivedSnapshots[snapshot.index], received.term == snapshot.term else {
                throw RaftError.protocolViolation("no data for snapshot \(snapshot.index)/\(snapshot.term)")
            }
            snapshotData = received.data
            receivedSnapshots = receivedSnapshots.filter { $0.key > snapshot.index }
        }
        if ready.mustPersist {
            let (log, state, data) = (logStore, stateStore, snapshotData)
            try await io.run { try ReadyPersistence.persist(ready, log: log, state: state, snapshotData: data) }
        }
        if let snapshot = ready.snapshot {
            logger.info("installed snapshot", metadata: ["index": "\(snapshot.index)", "term": "\(snapshot.term)"])
            // Proposals covered by the snapshot may well have committed: their
            // fate is unknown here, so they must not be reported as dropped
            // (a client would retry and apply them twice). `.timeout` says
            // "may still have taken effect".
            for (index, waiter) in waiters where index <= snapshot.index {
                waiters[index] = nil
                waiter.continuation.resume(throwing: RaftError.timeout)
            }
        }
        try send(ready.messagesAfterPersist)
        if !ready.committedEntries.isEmpty {
            let (entries, machine, state) = (ready.committedEntries, stateMachine, stateStore)
            let results = try await io.run { try CommittedEntryApplier.apply(entries, machine: machine, store: state) }
            for entry in ready.committedEntries {
                guard let waiter = waiters.removeValue(forKey: entry.index) else { continue }
                if waiter.term == entry.term {
                    waiter.continuation.resume(returning: ProposalResult(
                        index: entry.index, term: entry.term, result: results[entry.index] ?? []))
                } else {
                    waiter.continuation.resume(throwing: RaftError.proposalDropped)
                }
            }
        }
        for state in ready.readStates {
            reads[state.context]?.index = state.index
        }
        let applied = max(ready.committedEntries.last?.index ?? 0, ready.snapshot?.index ?? 0, core.appliedIndex)
        for (context, read) in reads {
            if let index = read.index, index <= applied {
                reads[context] = nil
                read.continuation.resume(returning: index)
            }
        }
    }

    private func send(_ messages: [Message]) throws {
        guard !messages.isEmpty else { return }
        var outgoing: [Message] = []
        outgoing.reserveCapacity(messages.count)
        for message in messages {
            if message.kind == .snapshot {
                // The core asks for a snapshot: stream the state store's, in chunks.
                let chunks = try SnapshotStream.chunks(
                    of: stateStore, fallback: core.configuration, maxChunkBytes: options.maxSnapshotChunkBytes)
                logger.info("sending snapshot", metadata: ["to": "\(message.to)", "index": "\(chunks[0].index)", "chunks": "\(chunks.count)"])
                for chunk in chunks {
                    var piece = message
                    piece.snapshot = chunk
                    outgoing.append(piece)
                }
            } else {
                outgoing.append(message)
            }
        }
        transport.send(outgoing)
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
        let raftError: RaftError =
            if let error = error as? RaftError { error } else if let error = error as? StorageError { .storage(error) } else { .protocolViolation("\(error)") }
        logger.error("raft node failed; stopping", metadata: ["error": "\(raftError)"])
        failure = raftError
        running = false
        for task in tasks { task.cancel() }
        tasks = []
        inbox?.finish()
        failAll(raftError)
    }

    private func failAll(_ error: RaftError) {
        for proposal in queuedProposals { proposal.continuation.resume(throwing: error) }
        queuedProposals = []
        for waiter in waiters.values { waiter.continuation.resume(throwing: error) }
        waiters = [:]
        for read in reads.values { read.continuation.resume(throwing: error) }
        reads = [:]
    }
}
