import Foundation
import Raft
import RaftRuntime
import RaftLabBackends
import StorageCore
import StorageFaults

/// A deterministic simulation of a Raft cluster in the spirit of TigerBeetle's
/// simulator and etcd's network tests: one seeded generator drives a simulated
/// clock, a lossy network (loss, duplication, reordering, delay, symmetric and
/// one-way partitions), disks whose writes complete later, power cuts and
/// restarts from the same stores, clients, checkpoints and compaction with
/// InstallSnapshot, leadership transfers and membership changes. The pure
/// `RaftCore` is driven directly, the way `RaftNode` drives it: each Ready's
/// committed entries go to an apply queue that runs behind later Readies'
/// log writes, clients are answered when their entry is applied, and the log
/// is compacted in the background after a checkpoint of the state store.
///
/// Every crash is a power cut: the stores (real `LogStore`/`StateStore`
/// instances opened through the backend registry, behind `PowerCutLogStore`
/// and `PowerCutStateStore`) fall back to what their contract made durable:
/// the log to its last synced call, the state store to its last checkpoint.
/// Crashes land at arbitrary points: with a log write in flight (it may or
/// may not have landed), with applies queued, between a checkpoint and the
/// compaction it allows, and between the two halves of a snapshot install.
///
/// After every step the invariants of the Raft paper are checked; a violation
/// throws `SimulationFailure` naming the seed, which replays the run exactly.
final class SimulatedCluster {
    struct Options {
        var nodes: Int
        var steps: Int
        var backend = "memory"
        /// Directory under which disk backends create one folder per node.
        var directory: String
        var trace = false
        /// Keep a minority of the voters down while checking liveness.
        var minorityDownAtEnd = false
        /// Syncs removed from every node's stores: a broken variant the
        /// invariants must catch.
        var faults: SyncFault = []
    }

    /// Faults and rates drawn from the seed, so runs differ in character.
    struct Profile {
        var lossRate: Double
        var duplicateRate: Double
        var maxDelay: UInt64
        var maxDiskDelay: UInt64
        var crashRate: Double
        var restartRate: Double
        var partitionRate: Double
        var healRate: Double
        var proposeRate: Double
        var membershipRate: Double
        var transferRate: Double
        var readRate: Double
        var compactThreshold: UInt64
        var compactKeep: UInt64
        var snapshotChunkBytes: Int
        var maxInflight: Int
        var maxMessageBytes: Int
        var skipTickRate: Double
        /// Committed bytes the apply queue takes per Ready (0: as the core likes).
        var applyBudget: Int
        var maxApplyDelay: UInt64
        var stateSync: StateSyncMode
        /// Chance that a restarting node finds its state store empty (a
        /// volatile store): it must get a snapshot from the leader.
        var stateLossRate: Double
    }

    final class Node {
        let id: NodeID
        var core: RaftCore?
        /// The stores outlive crashes: a power cut takes them back to what
        /// they made durable.
        var log: PowerCutLogStore?
        var state: PowerCutStateStore?
        /// The Ready whose log write is in flight.
        var pending: (ready: Ready, completeAt: UInt64)?
        /// Committed entries handed to the apply stage, applied in order.
        var applyQueue: [(entries: [LogEntry], completeAt: UInt64)] = []
        /// A checkpoint was taken; the compaction it allows lands at `at`.
        var pendingCompaction: (durable: UInt64, applied: UInt64, at: UInt64)?
        /// The state store's durable position at the last power cut's check.
        var lastDurable: UInt64 = 0
        var receiver = SnapshotReceiver()
        /// Reassembled snapshot data by (index, term), waiting for the core's Ready.
        var snapshotData: [SnapshotKey: StagedSnapshot] = [:]
        var lastApplied: UInt64 = 0
        var lastCommitChecked: UInt64 = 0
        var bootConfiguration: ClusterConfiguration
        /// Stopped for good after its removal from the cluster was committed.
        var removed = false
        /// Client proposals made on this node while leader: index -> (term, data).
        var proposals: [UInt64: (term: UInt64, data: [UInt8])] = [:]
        var reads: [[UInt8]: UInt64] = [:]
        /// Appeared in a committed configuration at some point.
        var wasMember: Bool

        init(id: NodeID, bootConfiguration: ClusterConfiguration) {
            self.id = id
            self.bootConfiguration = bootConfiguration
            wasMember = bootConfiguration.members.contains(id)
        }

        var isUp: Bool { core != nil }
    }

    struct SnapshotKey: Hashable {
        var index: UInt64
        var term: UInt64
    }

    struct InFlight {
        var at: UInt64
        var order: UInt64
        var message: Message
    }

    struct EntryRecord: Equatable {
        var previousTerm: UInt64
        var kind: LogEntry.Kind
        var data: [UInt8]
    }

    let seed: UInt64
    let options: Options
    var rng: SplitMix64
    let profile: Profile
    let electionTick = 10
    let registry = BackendRegistry.standard

    var now: UInt64 = 0
    var nodes: [NodeID: Node] = [:]
    var network: [InFlight] = []
    var sendCounter: UInt64 = 0
    /// Directed links that drop everything (partitions).
    var blocked: Set<[NodeID]> = []
    var nextNodeID: NodeID
    var nextCommand: UInt64 = 1
    var faultsEnabled = true
    /// The node being worked on, for failure reports.
    var currentNode: NodeID?

    // Invariant bookkeeping.
    var leaderOfTerm: [UInt64: NodeID] = [:]
    var entries: [SnapshotKey: EntryRecord] = [:]
    var committedTerm: [UInt64: UInt64] = [:]
    var maxCommitted: UInt64 = 0
    var appliedEntries: [UInt64: LogEntry] = [:]
    var stateHashAt: [UInt64: UInt64] = [:]
    /// Commands acknowledged to clients: data -> index.
    var acknowledged: [[UInt8]: UInt64] = [:]
    var traceLines: [String] = []
    var stats = Stats()

    struct Stats {
        var elections = 0
        var acknowledged = 0
        var snapshotsInstalled = 0
        var crashes = 0
        var membershipChanges = 0
        var transfers = 0
        var reads = 0
        var messagesDelivered = 0
        var stateLosses = 0
    }

    init(seed: UInt64, options: Options) throws {
        self.seed = seed
        self.options = options
        var rng = SplitMix64(seed: seed)
        func unit(_ rng: inout SplitMix64) -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        profile = Profile(
            lossRate: unit(&rng) * 0.15,
            duplicateRate: unit(&rng) * 0.05,
            maxDelay: rng.next(below: 4),
            maxDiskDelay: rng.next(below: 3),
            crashRate: 0.002 + unit(&rng) * 0.01,
            restartRate: 0.02 + unit(&rng) * 0.08,
            partitionRate: unit(&rng) * 0.02,
            healRate: 0.02 + unit(&rng) * 0.05,
            proposeRate: 0.2 + unit(&rng) * 0.5,
            membershipRate: unit(&rng) * 0.01,
            transferRate: unit(&rng) * 0.005,
            readRate: unit(&rng) * 0.05,
            compactThreshold: 10 + rng.next(below: 60),
            compactKeep: rng.next(below: 8),
            snapshotChunkBytes: 16 + Int(rng.next(below: 256)),
            maxInflight: 2 + Int(rng.next(below: 15)),
            maxMessageBytes: 64 + Int(rng.next(below: 448)),
            skipTickRate: unit(&rng) * 0.1,
            applyBudget: rng.next(below: 3) == 0 ? 0 : 16 + Int(rng.next(below: 256)),
            maxApplyDelay: rng.next(below: 4),
            stateSync: rng.next(below: 4) == 0 ? .always : .checkpoint,
            stateLossRate: rng.next(below: 3) == 0 ? unit(&rng) * 0.3 : 0)
        self.rng = rng
        nextNodeID = NodeID(options.nodes) + 1
        let configuration = ClusterConfiguration(voters: Set((1...NodeID(options.nodes)).map { $0 }))
        latestConfiguration = (0, configuration)
        for id in configuration.voters.sorted() {
            let node = Node(id: id, bootConfiguration: configuration)
            nodes[id] = node
            try start(node)
        }
    }

    // MARK: Randomness

    func chance(_ probability: Double) -> Bool {
        Double(rng.next() >> 11) / Double(1 << 53) < probability
    }

    func pick<T>(_ items: [T]) -> T? {
        items.isEmpty ? nil : items[Int(rng.next(below: UInt64(items.count)))]
    }

    func trace(_ line: @autoclosure () -> String) {
        guard options.trace else { return }
        traceLines.append("t=\(now) \(line())")
    }

    // MARK: Nodes

    func storeOptions(_ id: NodeID, _ kind: String) -> StoreOptions {
        StoreOptions(directory: "\(options.directory)/node\(id)/\(kind)", sync: false, stateSync: .always)
    }

    /// Empties a store directory: what a power cut rebuilds its durable image into.
    static func wipe(_ directory: String, registry: BackendRegistry) {
        try? FileSystem.removeTree(directory)
        for name in registry.names { try? registry.backend(named: name).forgetVolatileData(under: directory) }
    }

    func start(_ node: Node) throws {
        if node.log == nil {
            let (registry, backend, faults) = (registry, options.backend, options.faults)
            let logOptions = storeOptions(node.id, "log")
            let stateOptions = storeOptions(node.id, "state")
            node.log = try PowerCutLogStore(faults: faults) {
                Self.wipe(logOptions.directory, registry: registry)
                return try registry.openLogStore(backend: backend, logOptions)
            }
            node.state = try PowerCutStateStore(mode: profile.stateSync, faults: faults) {
                Self.wipe(stateOptions.directory, registry: registry)
                return try registry.openStateStore(backend: backend, stateOptions)
            }
        }
        guard let log = node.log, let state = node.state else { return }
        // Only while every other node is up with its state: a cluster whose
        // logs are compacted and whose state stores are all gone has lost
        // the data for good, whatever the engine does.
        let othersWhole = nodes.values.allSatisfy { other in
            other.id == node.id || other.removed || (other.core.map { !$0.awaitingSnapshot } ?? false)
        }
        if node.lastDurable > 0, faultsEnabled, othersWhole, chance(profile.stateLossRate) {
            try state.loseEverything()
            node.lastDurable = 0
            node.lastApplied = 0
            stats.stateLosses += 1
            trace("node \(node.id) restarts with an empty state store")
        }
        let stateComplete: Bool
        do {
            stateComplete = try ReadyPersistence.reconcile(log: log, state: state)
        } catch {
            throw violation("restart of node \(node.id) impossible: \(error)")
        }
        let applied = try state.appliedPosition().index
        // After a power cut the state store may fall back, but never behind
        // what its last checkpoint made durable.
        guard applied >= node.lastDurable else {
            throw violation("node \(node.id) restarted at applied \(applied), behind its durable checkpoint \(node.lastDurable)")
        }
        node.lastApplied = applied
        let configuration = try CommittedEntryApplier.configuration(in: state) ?? node.bootConfiguration
        let config = RaftCoreConfig(
            id: node.id, electionTick: electionTick, heartbeatTick: 1,
            maxMessageBytes: profile.maxMessageBytes, maxInflightMessages: profile.maxInflight)
        node.core = try RaftCore(
            config: config, storage: log, applied: stateComplete ? applied : try log.snapshotIndex(),
            configuration: configuration, random: SplitMix64(seed: rng.next()), awaitingSnapshot: !stateComplete)
        node.lastCommitChecked = node.core?.commitIndex ?? 0
        trace("node \(node.id) started applied=\(applied) config=\(configuration.voters.sorted())/\(configuration.learners.sorted())")
    }

    /// Cuts a node's power: everything its stores did not make durable is
    /// lost, and whatever was in flight lands or not, at random. A log write
    /// in flight lands half the time (a snapshot install possibly only its
    /// first half: the state restored, the log not yet cut); queued applies
    /// may get partly done; a checkpoint's compaction may or may not happen.
    func crash(_ node: Node) throws {
        guard node.isUp, let log = node.log, let state = node.state else { return }
        if chance(0.5), let first = node.applyQueue.first {
            try applyBatch(node, first.entries)
            node.applyQueue.removeFirst()
        }
        if let pending = node.pending, chance(0.5) {
            if let snapshot = pending.ready.snapshot, chance(0.5), let data = node.snapshotData[SnapshotKey(index: snapshot.index, term: snapshot.term)] {
                try data.restore(into: state, position: AppliedPosition(index: snapshot.index, term: snapshot.term))
                trace("node \(node.id) power cut between the state restore and the log cut of snapshot \(snapshot.index)")
            } else if node.applyQueue.isEmpty || pending.ready.snapshot == nil {
                try persist(node, pending.ready)
            }
        }
        if let compaction = node.pendingCompaction, chance(0.5) {
            try compactLog(node, compaction)
        }
        node.core = nil
        node.pending = nil
        node.applyQueue = []
        node.pendingCompaction = nil
        node.receiver = SnapshotReceiver()
        node.snapshotData = [:]
        node.proposals = [:]
        node.reads = [:]
        node.lastDurable = state.durablePosition.index
        try log.powerCut()
        try state.powerCut()
        stats.crashes += 1
        trace("node \(node.id) lost power (state store back to \(node.lastDurable))")
    }

    var liveNodes: [Node] { nodes.keys.sorted().compactMap { nodes[$0] }.filter { $0.isUp } }

    var leaders: [Node] { liveNodes.filter { $0.core?.role == .leader } }

    /// The membership most recently applied anywhere, with its applied index.
    var latestConfiguration: (index: UInt64, configuration: ClusterConfiguration)

    // MARK: Network

    func send(_ messages: [Message], from node: Node) throws {
        for message in messages {
            if message.kind == .snapshot, message.snapshot?.data.isEmpty ?? false, let state = node.state, let core = node.core {
                // The core asks for a snapshot; stream the state store's.
                let chunks = try SnapshotStream.chunks(
                    of: state, fallback: core.configuration, maxChunkBytes: profile.snapshotChunkBytes)
                trace("node \(node.id) sends snapshot at \(chunks[0].index) to \(message.to) in \(chunks.count) chunks")
                for chunk in chunks {
                    var piece = message
                    piece.snapshot = chunk
                    enqueue(piece)
                }
            } else {
                enqueue(message)
            }
        }
    }

    func enqueue(_ message: Message) {
        if faultsEnabled && chance(profile.lossRate) { return }
        let copies = faultsEnabled && chance(profile.duplicateRate) ? 2 : 1
        for _ in 0..<copies {
            let delay = profile.maxDelay == 0 ? 0 : rng.next(below: profile.maxDelay + 1)
            sendCounter += 1
            network.append(InFlight(at: now + delay, order: rng.next(), message: message))
        }
    }

    func deliverDueMessages() throws {
        var due: [InFlight] = []
        var later: [InFlight] = []
        for item in network {
            if item.at <= now { due.append(item) } else { later.append(item) }
        }
        network = later
        // Messages due at the same time arrive in random order.
        due.sort { ($0.at, $0.order) < ($1.at, $1.order) }
        for item in due {
            let message = item.message
            guard !blocked.contains([message.from, message.to]), let node = nodes[message.to], let core = node.core else { continue }
            currentNode = node.id
            stats.messagesDelivered += 1
            if message.kind == .snapshot, let chunk = message.snapshot {
                guard let complete = try node.receiver.add(chunk, from: message.from) else { continue }
                node.snapshotData[SnapshotKey(index: complete.metadata.index, term: complete.metadata.term)] = complete.data
                var whole = message
                whole.snapshot = SnapshotChunk(
                    index: complete.metadata.index, term: complete.metadata.term,
                    configuration: complete.metadata.configuration)
                try core.step(whole)
                trace("node \(node.id) received snapshot \(complete.metadata.index)/\(complete.metadata.term) from \(message.from): \(core.status)")
            } else {
                try core.step(message)
            }
        }
    }

    // MARK: Ready handling

    /// Drives each live node as `RaftNode` does: applies that are due, the
    /// log write in flight once it completes, then the next Readies.
    func processReadies() throws {
        for node in liveNodes {
            currentNode = node.id
            try applyDue(node)
            for _ in 0..<4 {
                guard let core = node.core else { break }
                if let pending = node.pending {
                    // A snapshot is installed only once every earlier apply is done.
                    guard pending.completeAt <= now, pending.ready.snapshot == nil || node.applyQueue.isEmpty else { break }
                    node.pending = nil
                    try complete(node, pending.ready)
                    continue
                }
                let budget = profile.applyBudget == 0 ? nil : profile.applyBudget
                guard let ready = try core.ready(maxCommittedBytes: budget) else { break }
                try send(ready.messages, from: node)
                if !ready.committedEntries.isEmpty {
                    let after = node.applyQueue.last?.completeAt ?? now
                    let delay = profile.maxApplyDelay == 0 ? 0 : rng.next(below: profile.maxApplyDelay + 1)
                    node.applyQueue.append((ready.committedEntries, max(after, now + delay)))
                }
                let delay = ready.mustSync && profile.maxDiskDelay > 0 ? rng.next(below: profile.maxDiskDelay + 1) : 0
                if delay == 0 && (ready.snapshot == nil || node.applyQueue.isEmpty) {
                    try complete(node, ready)
                } else {
                    node.pending = (ready, now + delay)
                    break
                }
            }
            try applyDue(node)
            try compactInBackground(node)
        }
    }

    /// Writes a Ready to the stores and checks log matching for its entries.
    func persist(_ node: Node, _ ready: Ready) throws {
        guard let log = node.log, let state = node.state else { return }
        var snapshotData: StagedSnapshot?
        if let snapshot = ready.snapshot {
            snapshotData = node.snapshotData[SnapshotKey(index: snapshot.index, term: snapshot.term)]
        }
        try ReadyPersistence.persist(ready, log: log, state: state, snapshotData: snapshotData)
        if let snapshot = ready.snapshot {
            stats.snapshotsInstalled += 1
            node.snapshotData = node.snapshotData.filter { $0.key.index > snapshot.index }
            let applied = try state.appliedPosition().index
            guard applied >= node.lastApplied else {
                throw violation("applied index went backwards on snapshot install at node \(node.id): \(node.lastApplied) -> \(applied)")
            }
            node.lastApplied = applied
            try checkStateHash(node, at: snapshot.index)
            trace("node \(node.id) installed snapshot \(snapshot.index)/\(snapshot.term)")
        }
        // Log matching (§5.3): an (index, term) pair identifies the entry and,
        // by induction on its predecessor's term, the whole prefix.
        var previousTerm: UInt64? = nil
        for entry in ready.entries {
            let before = try previousTerm ?? log.term(at: entry.index - 1)
            let record = EntryRecord(previousTerm: before, kind: entry.kind, data: entry.data)
            let key = SnapshotKey(index: entry.index, term: entry.term)
            if let known = entries[key], known != record {
                throw violation("log matching: node \(node.id) holds a different entry \(entry.index)/\(entry.term) (or a different predecessor)")
            }
            entries[key] = record
            previousTerm = entry.term
        }
    }

    /// The log write of `ready` completed: acknowledgments out, `advance`.
    func complete(_ node: Node, _ ready: Ready) throws {
        guard let core = node.core else { return }
        try persist(node, ready)
        try send(ready.messagesAfterPersist, from: node)
        for read in ready.readStates {
            node.reads[read.context] = read.index
        }
        try core.advance(ready)
        try serveReads(node)
    }

    /// Applies the queued batches whose time has come, in order.
    func applyDue(_ node: Node) throws {
        while let first = node.applyQueue.first, first.completeAt <= now, node.isUp {
            node.applyQueue.removeFirst()
            try applyBatch(node, first.entries)
        }
        try serveReads(node)
    }

    /// One apply-stage batch: the state machine's writes in one unsynced
    /// state store batch; proposers are answered now.
    func applyBatch(_ node: Node, _ batch: [LogEntry]) throws {
        guard let state = node.state else { return }
        // A snapshot installed meanwhile may already cover these entries.
        let entries = batch.filter { $0.index > node.lastApplied }
        guard !entries.isEmpty else { return }
        for entry in entries {
            if let known = appliedEntries[entry.index] {
                if known != entry {
                    throw violation("state machine safety: node \(node.id) applies \(entry.index)/\(entry.term) but \(known.index)/\(known.term) was applied elsewhere")
                }
            } else {
                appliedEntries[entry.index] = entry
            }
            if let proposal = node.proposals.removeValue(forKey: entry.index), proposal.term == entry.term, proposal.data == entry.data {
                acknowledged[entry.data] = entry.index
                stats.acknowledged += 1
            }
        }
        _ = try CommittedEntryApplier.apply(entries, machine: HashChainMachine(), store: state)
        let applied = try state.appliedPosition().index
        guard applied >= node.lastApplied else {
            throw violation("applied index went backwards at node \(node.id): \(node.lastApplied) -> \(applied)")
        }
        node.lastApplied = applied
        try checkStateHash(node, at: applied)
    }

    /// Linearizable reads: a read state is served once applied reaches it,
    /// and must see every command acknowledged before the read started.
    func serveReads(_ node: Node) throws {
        for (context, index) in node.reads where node.lastApplied >= index {
            node.reads[context] = nil
            let started = UInt64(bigEndianBytes: context.prefix(8)) ?? 0
            if index < started {
                throw violation("ReadIndex: node \(node.id) read at index \(index) misses an entry acknowledged (index \(started)) before the read began")
            }
            stats.reads += 1
        }
    }

    /// The runtime's background compaction, in its two steps: a checkpoint
    /// of the state store now, the log compaction it allows a little later
    /// (a power cut may fall in between).
    func compactInBackground(_ node: Node) throws {
        guard let state = node.state, let log = node.log else { return }
        if let compaction = node.pendingCompaction {
            guard compaction.at <= now else { return }
            node.pendingCompaction = nil
            try compactLog(node, compaction)
            return
        }
        let snapshotIndex = try log.snapshotIndex()
        // As the runtime: applied, and in this node's own log.
        let applied = min(node.lastApplied, node.core?.persistedIndex ?? 0)
        guard applied > snapshotIndex + profile.compactThreshold else { return }
        let durable = try state.checkpoint().index
        let delay = profile.maxDiskDelay == 0 ? 0 : rng.next(below: profile.maxDiskDelay + 1)
        node.pendingCompaction = (durable, applied, now + delay)
        trace("node \(node.id) checkpoint at \(durable)")
    }

    func compactLog(_ node: Node, _ compaction: (durable: UInt64, applied: UInt64, at: UInt64)) throws {
        guard let log = node.log else { return }
        try ReadyPersistence.compactLog(
            log, durableIndex: compaction.durable, appliedIndex: compaction.applied,
            threshold: profile.compactThreshold, keep: profile.compactKeep)
    }

    func checkStateHash(_ node: Node, at index: UInt64) throws {
        guard let state = node.state else { return }
        let hash = try HashChainMachine.hash(in: state)
        if let known = stateHashAt[index] {
            if known != hash { throw violation("state machine safety: node \(node.id) has a different state at applied index \(index)") }
        } else {
            stateHashAt[index] = hash
        }
    }

    // MARK: Invariants

    func violation(_ what: String) -> SimulationFailure {
        SimulationFailure(seed: seed, nodes: options.nodes, step: now, invariant: what, trace: traceLines.suffix(400).joined(separator: "\n"))
    }

    func checkInvariants() throws {
        for node in liveNodes {
            guard let core = node.core else { continue }
            // Election safety (§5.2): at most one leader per term.
            if core.role == .leader {
                if let other = leaderOfTerm[core.term] {
                    if other != node.id { throw violation("election safety: nodes \(other) and \(node.id) both lead term \(core.term)") }
                } else {
                    leaderOfTerm[core.term] = node.id
                    stats.elections += 1
                    trace("node \(node.id) leads term \(core.term)")
                    try checkLeaderCompleteness(node)
                }
            }
            // Committed entries never change (§5.4): record and compare.
            let commit = core.commitIndex
            if commit > node.lastCommitChecked {
                for index in (node.lastCommitChecked + 1)...commit {
                    guard let term = try core.term(at: index) else { continue }
                    if let known = committedTerm[index] {
                        if known != term { throw violation("commit safety: node \(node.id) commits \(index)/\(term) but \(index)/\(known) was committed") }
                    } else {
                        committedTerm[index] = term
                    }
                }
                node.lastCommitChecked = commit
                maxCommitted = max(maxCommitted, commit)
            }
        }
    }

    /// Leader completeness (§5.4): a new leader holds every committed entry.
    func checkLeaderCompleteness(_ node: Node) throws {
        guard let core = node.core, maxCommitted > 0 else { return }
        let first = core.status.firstIndex
        guard first <= maxCommitted else { return }
        for index in first...maxCommitted {
            guard let expected = committedTerm[index] else { continue }
            let term = try core.term(at: index)
            if term != expected {
                throw violation("leader completeness: new leader \(node.id) of term \(core.term) has \(term.map { "term \($0)" } ?? "nothing") at committed index \(index) (term \(expected))")
            }
        }
    }

    // MARK: Faults and clients

    func injectFaults() throws {
        for node in nodes.values.sorted(by: { $0.id < $1.id }) where !node.removed {
            if node.isUp {
                if chance(profile.crashRate) { try crash(node) }
            } else if chance(profile.restartRate) {
                try start(node)
            }
        }
        if chance(profile.partitionRate) {
            let ids = nodes.keys.sorted()
            if let victim = pick(ids) {
                if chance(0.5) {
                    // Symmetric: isolate one node.
                    for other in ids where other != victim {
                        blocked.insert([victim, other])
                        blocked.insert([other, victim])
                    }
                    trace("partition: node \(victim) isolated")
                } else if let other = pick(ids.filter { $0 != victim }) {
                    blocked.insert([victim, other])
                    trace("partition: one-way \(victim) -> \(other) blocked")
                }
            }
        }
        if !blocked.isEmpty && chance(profile.healRate) {
            blocked = []
            trace("partitions healed")
        }
        if chance(profile.membershipRate) { try changeMembership() }
        if chance(profile.transferRate), let leader = leaders.first, let core = leader.core {
            let targets = core.configuration.voters.filter { $0 != leader.id }.sorted()
            if let target = pick(targets) {
                try? core.transferLeadership(to: target)
                stats.transfers += 1
                trace("node \(leader.id) transfers leadership to \(target)")
            }
        }
    }

    func propose() throws {
        guard let leader = pick(leaders), let core = leader.core else { return }
        let count = 1 + Int(rng.next(below: 3))
        var commands: [[UInt8]] = []
        for _ in 0..<count {
            commands.append(nextCommand.bigEndianBytes)
            nextCommand += 1
        }
        do {
            let range = try core.propose(commands)
            for (offset, index) in range.enumerated() {
                leader.proposals[index] = (core.term, commands[offset])
            }
        } catch RaftError.transferInProgress {
            return
        }
    }

    func startRead() throws {
        guard let node = pick(liveNodes), let core = node.core else { return }
        // The context records the highest acknowledged index at the start of
        // the read: the read must observe at least that.
        let started = acknowledged.values.max() ?? 0
        do {
            try core.readIndex(context: started.bigEndianBytes + nextCommand.bigEndianBytes)
            nextCommand += 1
        } catch RaftError.notLeader {
            return
        }
    }

    func changeMembership() throws {
        guard let leader = pick(leaders), let core = leader.core else { return }
        let configuration = core.configuration
        let change: ConfigurationChange
        if let learner = pick(configuration.learners.sorted()) {
            guard let progress = core.progress(of: learner), progress.match + 5 >= (try core.lastIndex()) else { return }
            change = .addVoter(learner)
        } else if configuration.voters.count >= 4 || (configuration.members.count >= 6) {
            guard let victim = pick(configuration.voters.sorted()) else { return }
            change = .removeNode(victim)
        } else {
            let id = nextNodeID
            change = .addLearner(id)
        }
        do {
            try core.proposeConfigurationChange(change)
        } catch RaftError.configurationChangeInProgress {
            return
        } catch RaftError.transferInProgress {
            return
        }
        stats.membershipChanges += 1
        trace("node \(leader.id) proposes \(change)")
        if case .addLearner(let id) = change {
            nextNodeID += 1
            let node = Node(id: id, bootConfiguration: ClusterConfiguration(voters: []))
            nodes[id] = node
            try start(node)
        }
    }

    /// Stops nodes whose removal is committed (an operator would shut them down).
    func retireRemovedNodes() throws {
        for node in liveNodes {
            guard let core = node.core, core.appliedIndex > latestConfiguration.index else { continue }
            latestConfiguration = (core.appliedIndex, core.configuration)
        }
        for id in latestConfiguration.configuration.members { nodes[id]?.wasMember = true }
        for (id, node) in nodes.sorted(by: { $0.key < $1.key })
        where node.wasMember && !node.removed && !latestConfiguration.configuration.members.contains(id) {
            try crash(node)
            node.removed = true
            trace("node \(id) retired after its removal")
        }
    }

    // MARK: Running

    func step(clients: Bool) throws {
        now += 1
        if faultsEnabled { try injectFaults() }
        for node in liveNodes {
            if faultsEnabled && chance(profile.skipTickRate) { continue }
            try node.core?.tick()
        }
        if clients {
            if chance(profile.proposeRate) { try propose() }
            if chance(profile.readRate) { try startRead() }
        }
        try phase("delivering messages") { try deliverDueMessages() }
        try phase("processing readies") { try processReadies() }
        try retireRemovedNodes()
        try checkInvariants()
    }

    /// Names the phase an unexpected error came from, for the failure report.
    func phase(_ name: String, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let failure as SimulationFailure {
            throw failure
        } catch {
            throw violation("unexpected error while \(name) (node \(currentNode.map(String.init) ?? "?")): \(error)")
        }
    }

    /// Runs the fault phase, then heals everything and checks liveness and
    /// that every acknowledged command reached every live member.
    func run() throws -> Stats {
        for _ in 0..<options.steps {
            try step(clients: true)
        }
        // Heal: no new faults, restart every member, reconnect the network.
        faultsEnabled = false
        blocked = []
        for node in nodes.values.sorted(by: { $0.id < $1.id }) where !node.removed && !node.isUp {
            try start(node)
        }
        if options.minorityDownAtEnd {
            // Liveness needs only a majority: crash a minority of the voters for good.
            let voters = latestConfiguration.configuration.voters.sorted()
            var down = 0
            while down < (voters.count - 1) / 2, let victim = pick(voters), let node = nodes[victim], node.isUp {
                try crash(node)
                node.removed = true
                down += 1
                trace("node \(victim) stays down for the liveness check")
            }
        }
        try checkLiveness()
        try checkAcknowledgedEverywhere()
        return stats
    }

    /// After healing with every member up, a leader is elected and a new
    /// proposal commits within a bounded number of ticks.
    func checkLiveness() throws {
        let bound = 30 * electionTick
        let start = now
        var proposal: (node: Node, index: UInt64, term: UInt64)?
        let marker = UInt64.max.bigEndianBytes + [1]
        while now - start < UInt64(bound) {
            try step(clients: false)
            if let pending = proposal {
                if let entry = appliedEntries[pending.index], entry.data == marker, entry.term == pending.term {
                    return
                }
                if pending.node.core?.role != .leader || pending.node.core?.term != pending.term { proposal = nil }
            } else if let leader = leaders.first(where: { $0.core.map { (try? $0.term(at: $0.commitIndex)) == $0.term } ?? false }), let core = leader.core {
                do {
                    let range = try core.propose([marker])
                    proposal = (leader, range.upperBound, core.term)
                    trace("liveness marker proposed at \(range.upperBound) on node \(leader.id)")
                } catch {
                    trace("liveness marker refused by node \(leader.id): \(error)")
                }
            }
        }
        for node in liveNodes {
            guard let core = node.core else { continue }
            trace("status \(core.status) pending=\(node.pending != nil)")
            for other in nodes.keys.sorted() {
                if let progress = core.progress(of: other) { trace("  progress of \(other): \(progress)") }
            }
        }
        throw violation("liveness: no leader committed a new proposal within \(bound) ticks after healing (leaders: \(leaders.map(\.id)))")
    }

    /// Every command acknowledged to a client is applied by every live member.
    func checkAcknowledgedEverywhere() throws {
        let target = acknowledged.values.max() ?? 0
        let bound = 30 * electionTick
        let start = now
        while true {
            let members = latestConfiguration.configuration.members
            let lagging = liveNodes.filter { members.contains($0.id) && $0.lastApplied < max(target, maxCommitted) }
            if lagging.isEmpty { break }
            if now - start >= UInt64(bound) {
                throw violation("acknowledged commands not applied by nodes \(lagging.map(\.id)) within \(bound) ticks (need \(max(target, maxCommitted)), have \(lagging.map(\.lastApplied)))")
            }
            try step(clients: false)
        }
        for (data, index) in acknowledged {
            guard let entry = appliedEntries[index], entry.data == data else {
                throw violation("acknowledged command at index \(index) was not the one applied")
            }
        }
        for node in liveNodes where latestConfiguration.configuration.members.contains(node.id) {
            guard let state = node.state else { continue }
            let hash = try HashChainMachine.hash(in: state)
            if let known = stateHashAt[node.lastApplied], known != hash {
                throw violation("final state of node \(node.id) differs at index \(node.lastApplied)")
            }
        }
    }

    func shutdown() {
        for node in nodes.values {
            try? node.log?.close()
            try? node.state?.close()
        }
    }
}

struct SimulationFailure: Error, CustomStringConvertible {
    var seed: UInt64
    var nodes: Int
    var step: UInt64
    var invariant: String
    var trace: String

    var description: String {
        "SIMULATION FAILED seed=\(seed) nodes=\(nodes) step=\(step): \(invariant) — replay: RAFTLAB_SIM_SEED=\(seed) RAFTLAB_SIM_NODES=\(nodes) RAFTLAB_SIM_TRACE=1 swift test --filter Simulation"
    }
}

/// The simulation's state machine: each command updates a running hash (so two
/// stores at the same applied index agree only if they applied the same
/// commands in the same order) and one of a few keys (so snapshots carry data).
struct HashChainMachine: StateMachine {
    static let hashKey: Bytes = Array("hash".utf8)

    static func hash(in store: any StateStore) throws -> UInt64 {
        try store.get(hashKey).flatMap { UInt64(bigEndianBytes: $0) } ?? 0
    }

    func apply(_ entries: [LogEntry], to batch: inout WriteBatch, reading store: any StateStore) throws -> [[UInt8]] {
        var hash = try Self.hash(in: store)
        for entry in entries {
            for byte in entry.data {
                hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3
            }
            hash = (hash ^ entry.index) &* 0x100_0000_01B3
            batch.put(Array("k\((entry.data.last ?? 0) % 8)".utf8), entry.data)
        }
        batch.put(Self.hashKey, hash.bigEndianBytes)
        return entries.map(\.data)
    }
}
