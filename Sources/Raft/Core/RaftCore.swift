import StorageCore

/// Tunables of the protocol core.
public struct RaftCoreConfig: Sendable, Hashable {
    public var id: NodeID
    /// Ticks without hearing from a leader before a follower campaigns. The
    /// actual timeout is drawn from `electionTick..<2*electionTick`.
    public var electionTick: Int
    /// Ticks between leader heartbeats; must be well below `electionTick`.
    public var heartbeatTick: Int
    /// Payload bytes per append message (at least one entry is always sent).
    public var maxMessageBytes: Int
    /// Append messages in flight to one follower before the leader waits.
    public var maxInflightMessages: Int
    /// Payload bytes of committed entries handed out per `Ready`.
    public var maxApplyBytes: Int
    /// Pre-vote (dissertation §9.6): a node only bumps its term once a quorum
    /// would vote for it, so a partitioned node cannot disrupt the cluster.
    public var preVote: Bool
    /// A leader that has not heard from a quorum for an election timeout steps
    /// down, and followers ignore vote requests while they hear from a leader.
    public var checkQuorum: Bool

    public init(
        id: NodeID, electionTick: Int = 10, heartbeatTick: Int = 1,
        maxMessageBytes: Int = 1 << 20, maxInflightMessages: Int = 256,
        maxApplyBytes: Int = 64 << 20, preVote: Bool = true, checkQuorum: Bool = true
    ) {
        self.id = id
        self.electionTick = electionTick
        self.heartbeatTick = heartbeatTick
        self.maxMessageBytes = maxMessageBytes
        self.maxInflightMessages = maxInflightMessages
        self.maxApplyBytes = maxApplyBytes
        self.preVote = preVote
        self.checkQuorum = checkQuorum
    }
}

public enum RaftRole: String, Sendable, Hashable {
    case follower, preCandidate, candidate, leader
}

/// A snapshot of the core's state for status pages and tests.
public struct RaftCoreStatus: Sendable, Hashable {
    public var id: NodeID
    public var role: RaftRole
    public var term: UInt64
    public var votedFor: NodeID?
    /// The leader this node follows (itself when leader), or nil.
    public var leader: NodeID?
    public var commit: UInt64
    public var applied: UInt64
    public var firstIndex: UInt64
    public var lastIndex: UInt64
    public var configuration: ClusterConfiguration
}

/// The Raft protocol as a deterministic state machine, designed as etcd's raft:
/// no I/O, no clock, no threads, no randomness of its own. Messages, ticks and
/// proposals go in; a `Ready` comes out, and the caller acknowledges it with
/// `advance(_:)` once it has done what it asks.
///
/// The core only reads the `LogStore` (entries already durable); every write
/// goes through `Ready`. It is not thread safe: one owner drives it.
public final class RaftCore {
    public let config: RaftCoreConfig
    public var id: NodeID { config.id }

    public private(set) var term: UInt64 = 0
    public private(set) var votedFor: NodeID?
    public private(set) var role: RaftRole = .follower
    /// The current leader, 0 when unknown.
    public private(set) var leader: NodeID = 0
    /// The membership in force: the last configuration entry applied (or the
    /// snapshot's, or the bootstrap configuration).
    public private(set) var configuration: ClusterConfiguration

    var log: RaftLog
    private var random: any RandomNumberGenerator
    private var progress: [NodeID: Progress] = [:]
    private var votes: [NodeID: Bool] = [:]
    private var electionElapsed = 0
    private var heartbeatElapsed = 0
    private var randomizedElectionTimeout = 0
    /// Index of the last configuration entry proposed by this leader; no new
    /// change may be proposed until it is applied.
    private var pendingConfigurationIndex: UInt64 = 0
    private var leadTransferee: NodeID = 0
    private var readOnly = ReadOnlyQueue()
    /// ReadIndex requests that arrived before this leader committed an entry of its term.
    private var pendingReadIndex: [Message] = []

    private var messages: [Message] = []
    private var messagesAfterPersist: [Message] = []
    private var readStates: [ReadState] = []
    private var persistedHardState: HardState
    private var readyOutstanding = false
    /// The state store lost what the log's compacted prefix held: nothing is
    /// applied until a snapshot from the leader replaces it.
    public private(set) var awaitingSnapshot: Bool
    private var snapshotRequestElapsed = 0
    /// A snapshot to restore into the state store while the log stays as it
    /// is (it already holds the snapshot's last entry): only while awaiting one.
    private var pendingStateRestore: SnapshotMetadata?

    /// Vote request context marking a leadership transfer: voters grant it even
    /// while they still hear from the current leader.
    static let transferContext: [UInt8] = Array("transfer".utf8)

    /// Restarts (or starts) a node from what its `LogStore` holds.
    ///
    /// - Parameters:
    ///   - applied: the state store's applied index; committed entries after it
    ///     are handed out again for application.
    ///   - configuration: the membership as of `applied` (from the state store,
    ///     or the bootstrap configuration for a new cluster; empty for a node
    ///     that will join an existing cluster).
    ///   - random: the source of randomized election timeouts.
    ///   - awaitingSnapshot: the state store is behind the log's compaction
    ///     point (`applied` is then that point): the node takes part in
    ///     elections and replication with its log, applies nothing, and asks
    ///     the leader for a snapshot.
    public init(
        config: RaftCoreConfig, storage: any LogStore, applied: UInt64,
        configuration: ClusterConfiguration, random: some RandomNumberGenerator, awaitingSnapshot: Bool = false
    ) throws {
        self.awaitingSnapshot = awaitingSnapshot
        guard config.id != 0 else { throw RaftError.invalidArgument("node id 0 means none") }
        guard config.heartbeatTick > 0, config.electionTick > config.heartbeatTick else {
            throw RaftError.invalidArgument("need 0 < heartbeatTick < electionTick")
        }
        self.config = config
        self.random = random
        self.configuration = configuration
        log = try RaftLog(storage: storage)
        let hardState = try storage.hardState()
        persistedHardState = hardState
        let first = try log.firstIndex()
        let last = try log.lastIndex()
        guard applied + 1 >= first, applied <= last else {
            throw RaftError.protocolViolation(
                "applied index \(applied) is outside the log \(first - 1)...\(last); reconcile the stores first")
        }
        log.applied = applied
        log.committed = max(applied, min(hardState.commit, last))
        term = hardState.term
        votedFor = hardState.votedFor
        becomeFollower(term: term, leader: 0)
    }

    // MARK: Inputs

    /// Advances the logical clock by one tick.
    public func tick() throws {
        if role == .leader { try tickHeartbeat() } else { try tickElection() }
    }

    /// Handles a message from a peer.
    public func step(_ message: Message) throws {
        let m = message
        guard m.to == id || m.to == 0 else { return }
        if m.term > term {
            if m.kind == .vote || m.kind == .preVote {
                let force = m.context == Self.transferContext
                let inLease = config.checkQuorum && leader != 0 && electionElapsed < config.electionTick
                if !force && inLease { return }
            }
            switch m.kind {
            case .preVote:
                break  // never change term in response to a pre-vote
            case .preVoteResponse where !m.reject:
                break  // the term is bumped when the pre-vote succeeds
            case .append, .heartbeat, .snapshot:
                becomeFollower(term: m.term, leader: m.from)
            default:
                becomeFollower(term: m.term, leader: 0)
            }
        } else if m.term < term {
            if (config.checkQuorum || config.preVote) && (m.kind == .heartbeat || m.kind == .append) {
                // Tell a stale leader about the newer term so it steps down.
                send(Message(kind: .appendResponse, from: id, to: m.from, term: term))
            } else if m.kind == .preVote {
                send(Message(kind: .preVoteResponse, from: id, to: m.from, term: term, reject: true))
            }
            return
        }

        switch m.kind {
        case .vote, .preVote:
            let canVote = votedFor == m.from || (votedFor == nil && leader == 0) || (m.kind == .preVote && m.term > term)
            if canVote, try log.isUpToDate(lastIndex: m.logIndex, term: m.logTerm) {
                let kind: Message.Kind = m.kind == .vote ? .voteResponse : .preVoteResponse
                send(Message(kind: kind, from: id, to: m.from, term: m.term))
                if m.kind == .vote {
                    electionElapsed = 0
                    votedFor = m.from
                }
            } else {
                let kind: Message.Kind = m.kind == .vote ? .voteResponse : .preVoteResponse
                send(Message(kind: kind, from: id, to: m.from, term: term, reject: true))
            }
        default:
            switch role {
            case .leader: try stepLeader(m)
            case .candidate, .preCandidate: try stepCandidate(m)
            case .follower: try stepFollower(m)
            }
        }
    }

    /// Appends client commands to the leader's log; returns their index range.
    /// All of them go out in one append message per follower and one sync.
    @discardableResult
    public func propose(_ commands: [[UInt8]]) throws -> ClosedRange<UInt64> {
        try proposeEntries(commands.map { ($0, LogEntry.Kind.command) })
    }

    /// Proposes one single-server membership change; returns its log index.
    @discardableResult
    public func proposeConfigurationChange(_ change: ConfigurationChange) throws -> UInt64 {
        guard role == .leader else { throw RaftError.notLeader(leaderHint: leaderHint) }
        guard pendingConfigurationIndex <= log.applied else { throw RaftError.configurationChangeInProgress }
        let next = try configuration.applying(change)
        let range = try proposeEntries([(next.encoded(), .configuration)])
        pendingConfigurationIndex = range.upperBound
        return range.upperBound
    }

    /// Starts a linearizable read: a `ReadState` carrying `context` comes out in
    /// a later `Ready` once the leader has confirmed its leadership.
    public func readIndex(context: [UInt8]) throws {
        let request = Message(kind: .readIndex, from: id, to: id, term: term, context: context)
        switch role {
        case .leader:
            try handleReadIndex(request)
        default:
            guard leader != 0 else { throw RaftError.notLeader(leaderHint: nil) }
            send(Message(kind: .readIndex, from: id, to: leader, term: term, context: context))
        }
    }

    /// Hands leadership to `target` (dissertation §3.10): the leader stops
    /// accepting proposals, brings the target up to date and tells it to
    /// campaign at once. Aborted after an election timeout.
    public func transferLeadership(to target: NodeID) throws {
        guard role == .leader else { throw RaftError.notLeader(leaderHint: leaderHint) }
        guard target != id else { return }
        guard configuration.voters.contains(target), let pr = progress[target] else {
            throw RaftError.invalidConfigurationChange("node \(target) is not a voter")
        }
        if leadTransferee == target { return }
        leadTransferee = target
        electionElapsed = 0
        if pr.match == (try log.lastIndex()) {
            send(Message(kind: .timeoutNow, from: id, to: target, term: term))
        } else {
            try sendAppend(to: target)
        }
    }

    /// Tells the leader that a snapshot to `node` failed, so it tries again.
    public func reportSnapshotFailure(to node: NodeID) {
        guard role == .leader, var pr = progress[node], pr.state == .snapshot else { return }
        pr.becomeProbe()
        pr.probeSent = true  // wait for the next heartbeat response before retrying
        progress[node] = pr
    }

    /// Tells the leader a peer is unreachable: stop streaming to it optimistically.
    public func reportUnreachable(_ node: NodeID) {
        guard role == .leader, var pr = progress[node], pr.state == .replicate else { return }
        pr.becomeProbe()
        progress[node] = pr
    }

    // MARK: Outputs

    /// The work to do, or nil when there is none or a `Ready` is still outstanding.
    ///
    /// - Parameter maxCommittedBytes: payload bytes of committed entries the
    ///   application can take now (default `RaftCoreConfig.maxApplyBytes`); 0
    ///   hands out none, so an application that applies in the background
    ///   bounds the entries it holds. At least one entry is handed out
    ///   otherwise, however large.
    public func ready(maxCommittedBytes: Int? = nil) throws -> Ready? {
        guard !readyOutstanding else { return nil }
        let current = HardState(term: term, votedFor: votedFor, commit: log.committed)
        let entries = log.unstable.entries
        let snapshot = log.unstable.snapshot ?? pendingStateRestore
        let voteChanged = current.term != persistedHardState.term || current.votedFor != persistedHardState.votedFor
        let writesAnyway = !entries.isEmpty || snapshot != nil
        let budget = maxCommittedBytes ?? config.maxApplyBytes
        let ready = Ready(
            hardState: (voteChanged || writesAnyway) && current != persistedHardState ? current : nil,
            entries: entries,
            snapshot: snapshot,
            committedEntries: budget > 0 && !awaitingSnapshot ? try log.nextCommittedEntries(maxBytes: budget) : [],
            messages: messages,
            messagesAfterPersist: messagesAfterPersist,
            readStates: readStates)
        guard ready.mustSync || !ready.committedEntries.isEmpty || !ready.messages.isEmpty
            || !ready.messagesAfterPersist.isEmpty || !ready.readStates.isEmpty
        else { return nil }
        messages = []
        messagesAfterPersist = []
        readStates = []
        readyOutstanding = true
        return ready
    }

    /// Acknowledges that `ready` was persisted and sent, and that its
    /// committed entries were handed to the application (which may still be
    /// applying them).
    public func advance(_ ready: Ready) throws {
        readyOutstanding = false
        if let hardState = ready.hardState { persistedHardState = hardState }
        if let snapshot = ready.snapshot {
            log.unstable.stableSnapshot(at: snapshot.index)
            log.applied = max(log.applied, snapshot.index)
            if pendingStateRestore == snapshot { pendingStateRestore = nil }
            awaitingSnapshot = false
        }
        if let last = ready.entries.last {
            log.stableTo(index: last.index, term: last.term)
        }
        for entry in ready.committedEntries {
            log.applied = max(log.applied, entry.index)
            if entry.kind == .configuration {
                try applyConfiguration(try ClusterConfiguration(encoded: entry.data))
            }
        }
        switch role {
        case .candidate:
            // Our own vote counts only once it is durable.
            if persistedHardState.term == term && persistedHardState.votedFor == id {
                try poll(from: id, granted: true)
            }
        case .leader:
            // The leader counts itself in the quorum only for durable entries.
            if var pr = progress[id], pr.maybeUpdate(log.persistedIndex) {
                progress[id] = pr
                if try maybeCommit() { try broadcastAppend() }
            }
        default:
            break
        }
        if role == .leader, !pendingReadIndex.isEmpty, try committedEntryInCurrentTerm() {
            let waiting = pendingReadIndex
            pendingReadIndex = []
            for request in waiting { try handleReadIndex(request) }
        }
    }

    public var status: RaftCoreStatus {
        RaftCoreStatus(
            id: id, role: role, term: term, votedFor: votedFor, leader: leader == 0 ? nil : leader,
            commit: log.committed, applied: log.applied,
            firstIndex: (try? log.firstIndex()) ?? 0, lastIndex: (try? log.lastIndex()) ?? 0,
            configuration: configuration)
    }

    public var commitIndex: UInt64 { log.committed }
    public var appliedIndex: UInt64 { log.applied }
    /// The last index this node's own log store holds durably (as far as
    /// `advance` said). A committed entry may be applied before it reaches
    /// the local log; compaction must never pass this point, or the pending
    /// write of that entry would land in front of the compacted log.
    public var persistedIndex: UInt64 { log.persistedIndex }
    public func lastIndex() throws -> UInt64 { try log.lastIndex() }
    public func term(at index: UInt64) throws -> UInt64? { try log.term(at: index) }
    public var isReadyOutstanding: Bool { readyOutstanding }

    /// The leader's view of a follower, nil on other roles or for non-members.
    public func progress(of node: NodeID) -> Progress? {
        role == .leader ? progress[node] : nil
    }

    private var leaderHint: NodeID? { leader == 0 ? nil : leader }

    // MARK: Roles

    private var isPromotable: Bool { configuration.voters.contains(id) }

    private func reset(term newTerm: UInt64) {
        if newTerm != term {
            term = newTerm
            votedFor = nil
        }
        leader = 0
        electionElapsed = 0
        heartbeatElapsed = 0
        randomizedElectionTimeout = config.electionTick + Int(random.next() % UInt64(config.electionTick))
        leadTransferee = 0
        votes = [:]
        pendingConfigurationIndex = 0
        readOnly.reset()
        pendingReadIndex = []
        resetProgress(next: ((try? log.lastIndex()) ?? 0) + 1)
    }

    private func resetProgress(next: UInt64) {
        progress = [:]
        for member in configuration.members {
            var pr = Progress(next: next, inflightCapacity: config.maxInflightMessages, isLearner: !configuration.voters.contains(member))
            if member == id { pr.match = log.persistedIndex }
            progress[member] = pr
        }
    }

    private func becomeFollower(term newTerm: UInt64, leader newLeader: NodeID) {
        reset(term: newTerm)
        role = .follower
        leader = newLeader
    }

    private func becomePreCandidate() {
        role = .preCandidate
        votes = [:]
        leader = 0
    }

    private func becomeCandidate() {
        reset(term: term + 1)
        votedFor = id
        role = .candidate
    }

    private func becomeLeader() throws {
        reset(term: term)
        role = .leader
        leader = id
        for member in progress.keys {
            progress[member]?.recentActive = true
        }
        progress[id]?.becomeReplicate()
        // A new leader may not propose a membership change until everything in
        // its log, including earlier terms' changes, is applied (the fix for
        // single-server changes across leader changes, dissertation §4.1).
        pendingConfigurationIndex = try log.lastIndex()
        // Commits the previous terms' entries: a leader counts replicas only
        // for entries of its own term (§5.4.2).
        let index = try log.lastIndex() + 1
        log.append([LogEntry(index: index, term: term, kind: .noop)])
    }

    private func hup(transfer: Bool) throws {
        // A node without its state could neither apply nor send a follower
        // a snapshot: it votes, but does not lead.
        guard role != .leader, isPromotable, !awaitingSnapshot else { return }
        // A committed but unapplied membership change may remove us or change
        // the quorum; campaigning with the old configuration is unsafe.
        if log.applied < log.committed {
            let pendingChanges = try log.entries((log.applied + 1)...log.committed, maxBytes: .max)
            if pendingChanges.contains(where: { $0.kind == .configuration }) { return }
        }
        if config.preVote && !transfer {
            try campaign(preVote: true, transfer: false)
        } else {
            try campaign(preVote: false, transfer: transfer)
        }
    }

    private func campaign(preVote: Bool, transfer: Bool) throws {
        let voteTerm: UInt64
        if preVote {
            becomePreCandidate()
            voteTerm = term + 1
            // A pre-vote promises nothing, so our own counts at once.
            try poll(from: id, granted: true)
            if role != .preCandidate { return }
        } else {
            becomeCandidate()
            voteTerm = term
            // Our own vote is counted in `advance`, once it is durable.
        }
        let lastIndex = try log.lastIndex()
        let lastTerm = try log.lastTerm()
        for voter in configuration.voters.sorted() where voter != id {
            send(Message(
                kind: preVote ? .preVote : .vote, from: id, to: voter, term: voteTerm,
                logIndex: lastIndex, logTerm: lastTerm,
                context: transfer ? Self.transferContext : []))
        }
    }

    private func poll(from node: NodeID, granted: Bool) throws {
        guard configuration.voters.contains(node), votes[node] == nil else { return }
        votes[node] = granted
        let grants = votes.values.filter { $0 }.count
        let rejects = votes.count - grants
        if grants >= configuration.quorum {
            if role == .preCandidate {
                try campaign(preVote: false, transfer: false)
            } else if role == .candidate {
                try becomeLeader()
                try broadcastAppend()
            }
        } else if rejects >= configuration.quorum || (configuration.voters.count - rejects) < configuration.quorum {
            becomeFollower(term: term, leader: 0)
        }
    }

    // MARK: Ticks

    private func tickElection() throws {
        electionElapsed += 1
        if snapshotRequestElapsed > 0 { snapshotRequestElapsed -= 1 }
        if isPromotable && electionElapsed >= randomizedElectionTimeout {
            electionElapsed = 0
            try hup(transfer: false)
        }
    }

    private func tickHeartbeat() throws {
        heartbeatElapsed += 1
        electionElapsed += 1
        if electionElapsed >= config.electionTick {
            electionElapsed = 0
            if config.checkQuorum && !checkQuorumActive() {
                becomeFollower(term: term, leader: 0)
                return
            }
            leadTransferee = 0
        }
        for (node, pr) in progress where pr.state == .snapshot {
            var pr = pr
            pr.snapshotTicks += 1
            if pr.snapshotTicks >= 2 * config.electionTick {
                // The snapshot (or its acknowledgment) was probably lost: try again.
                pr.becomeProbe()
            }
            progress[node] = pr
        }
        if heartbeatElapsed >= config.heartbeatTick {
            heartbeatElapsed = 0
            broadcastHeartbeat(context: readOnly.lastContext ?? [])
        }
    }

    /// True when a quorum of voters was heard from since the last check.
    private func checkQuorumActive() -> Bool {
        var active = 0
        for (node, pr) in progress {
            if configuration.voters.contains(node) && (node == id || pr.recentActive) { active += 1 }
            if node != id { progress[node]?.recentActive = false }
        }
        return active >= configuration.quorum
    }

    // MARK: Leader

    private func proposeEntries(_ items: [(data: [UInt8], kind: LogEntry.Kind)]) throws -> ClosedRange<UInt64> {
        guard role == .leader else { throw RaftError.notLeader(leaderHint: leaderHint) }
        guard leadTransferee == 0 else { throw RaftError.transferInProgress }
        let first = try log.lastIndex() + 1
        guard !items.isEmpty else { throw RaftError.invalidArgument("empty proposal") }
        var entries: [LogEntry] = []
        entries.reserveCapacity(items.count)
        for (offset, item) in items.enumerated() {
            entries.append(LogEntry(index: first + UInt64(offset), term: term, kind: item.kind, data: item.data))
        }
        log.append(entries)
        try broadcastAppend()
        return first...(first + UInt64(items.count) - 1)
    }

    private func broadcastAppend() throws {
        for node in progress.keys.sorted() where node != id {
            try sendAppend(to: node)
        }
    }

    private func broadcastHeartbeat(context: [UInt8]) {
        for (node, pr) in progress.sorted(by: { $0.key < $1.key }) where node != id {
            send(Message(
                kind: .heartbeat, from: id, to: node, term: term,
                commit: min(pr.match, log.committed), context: context))
        }
    }

    private func sendAppend(to node: NodeID) throws {
        _ = try maybeSendAppend(to: node, sendIfEmpty: true)
    }

    /// Sends the next append (or a snapshot) to `node` unless flow control
    /// pauses it; returns whether a message went out.
    private func maybeSendAppend(to node: NodeID, sendIfEmpty: Bool) throws -> Bool {
        guard var pr = progress[node], !pr.isPaused else { return false }
        let lastIndex = try log.lastIndex()
        if pr.next > lastIndex + 1 { pr.next = lastIndex + 1 }
        let prevIndex = pr.next - 1
        var entries: [LogEntry] = []
        var compacted = false
        let prevTerm = try log.term(at: prevIndex)
        if prevTerm == nil {
            compacted = true
        } else if pr.next <= lastIndex {
            do {
                entries = try log.entries(pr.next...lastIndex, maxBytes: config.maxMessageBytes)
            } catch StorageError.compacted {
                compacted = true
            }
        }
        if compacted {
            // The follower needs entries we no longer have: send a snapshot.
            guard pr.recentActive else { return false }
            let snapshotIndex = try log.firstIndex() - 1
            guard let snapshotTerm = try log.term(at: snapshotIndex) else {
                throw RaftError.protocolViolation("the log has no term for its snapshot index \(snapshotIndex)")
            }
            pr.becomeSnapshot(index: snapshotIndex)
            progress[node] = pr
            let chunk = SnapshotChunk(index: snapshotIndex, term: snapshotTerm, configuration: configuration)
            send(Message(kind: .snapshot, from: id, to: node, term: term, snapshot: chunk))
            return true
        }
        if entries.isEmpty && !sendIfEmpty { return false }
        send(Message(
            kind: .append, from: id, to: node, term: term,
            logIndex: prevIndex, logTerm: prevTerm ?? 0, commit: log.committed, entries: entries))
        if let last = entries.last {
            pr.sentEntries(lastIndex: last.index)
        } else if pr.state == .probe {
            pr.probeSent = true
        }
        progress[node] = pr
        return true
    }

    /// Commits the highest index a quorum of voters holds durably, but only if
    /// its entry is from the current term (§5.4.2, Figure 8).
    private func maybeCommit() throws -> Bool {
        let matches = configuration.voters.map { progress[$0]?.match ?? 0 }.sorted(by: >)
        guard !matches.isEmpty else { return false }
        let candidate = matches[configuration.quorum - 1]
        guard candidate > log.committed, try log.term(at: candidate) == term else { return false }
        try log.commit(to: candidate)
        return true
    }

    private func committedEntryInCurrentTerm() throws -> Bool {
        try log.term(at: log.committed) == term
    }

    private func stepLeader(_ m: Message) throws {
        switch m.kind {
        case .readIndex:
            try handleReadIndex(m)
            return
        default:
            break
        }
        guard var pr = progress[m.from] else { return }
        switch m.kind {
        case .snapshotRequest:
            // The follower's state store lost data its log no longer holds:
            // send it the state, whatever its log says.
            guard pr.state != .snapshot else { return }
            pr.recentActive = true
            let snapshotIndex = try log.firstIndex() - 1
            guard let snapshotTerm = try log.term(at: snapshotIndex) else { return }
            pr.becomeSnapshot(index: snapshotIndex)
            progress[m.from] = pr
            let chunk = SnapshotChunk(index: snapshotIndex, term: snapshotTerm, configuration: configuration)
            send(Message(kind: .snapshot, from: id, to: m.from, term: term, snapshot: chunk))
        case .appendResponse, .snapshotResponse:
            pr.recentActive = true
            if m.reject {
                var hint = m.rejectHint
                if m.logTerm > 0 {
                    hint = try log.findConflictByTerm(index: min(m.rejectHint, try log.lastIndex()), term: m.logTerm).index
                }
                if pr.maybeDecrease(rejected: m.logIndex, matchHint: hint) {
                    if pr.state == .replicate { pr.becomeProbe() }
                    progress[m.from] = pr
                    try sendAppend(to: m.from)
                } else {
                    progress[m.from] = pr
                }
                return
            }
            let wasPaused = pr.isPaused
            guard pr.maybeUpdate(m.logIndex) || (pr.match == m.logIndex && pr.state == .probe) else {
                progress[m.from] = pr
                return
            }
            switch pr.state {
            case .probe:
                pr.becomeReplicate()
            case .snapshot:
                if pr.match + 1 >= (try log.firstIndex()) {
                    pr.becomeProbe()
                    pr.becomeReplicate()
                }
            case .replicate:
                pr.inflights.free(through: m.logIndex)
            }
            progress[m.from] = pr
            if try maybeCommit() {
                try broadcastAppend()
            } else if wasPaused {
                try sendAppend(to: m.from)
            }
            // Pipelining: keep sending while the inflight window allows.
            while try maybeSendAppend(to: m.from, sendIfEmpty: false) {}
            if m.from == leadTransferee, progress[m.from]?.match == (try log.lastIndex()) {
                send(Message(kind: .timeoutNow, from: id, to: m.from, term: term))
            }
        case .heartbeatResponse:
            pr.recentActive = true
            pr.probeSent = false
            if pr.state == .replicate && pr.inflights.isFull { pr.inflights.freeFirst() }
            progress[m.from] = pr
            if pr.match < (try log.lastIndex()) { try sendAppend(to: m.from) }
            guard !m.context.isEmpty, configuration.voters.contains(m.from),
                let acks = readOnly.ack(from: m.from, context: m.context)
            else { return }
            guard acks.filter({ configuration.voters.contains($0) }).count >= configuration.quorum else { return }
            for (context, request) in readOnly.release(through: m.context) {
                respondToReadIndex(index: request.index, from: request.from, context: context)
            }
        default:
            break
        }
    }

    private func handleReadIndex(_ m: Message) throws {
        if configuration.voters == [id] {
            respondToReadIndex(index: log.committed, from: m.from, context: m.context)
            return
        }
        // Until the leader commits an entry of its term it does not know the
        // full commit index (dissertation §6.4 step 1).
        guard try committedEntryInCurrentTerm() else {
            pendingReadIndex.append(m)
            return
        }
        readOnly.add(index: log.committed, from: m.from, context: m.context, leader: id)
        broadcastHeartbeat(context: m.context)
    }

    private func respondToReadIndex(index: UInt64, from: NodeID, context: [UInt8]) {
        if from == id || from == 0 {
            readStates.append(ReadState(index: index, context: context))
        } else {
            send(Message(kind: .readIndexResponse, from: id, to: from, term: term, logIndex: index, context: context))
        }
    }

    // MARK: Followers and candidates

    private func stepCandidate(_ m: Message) throws {
        switch m.kind {
        case .append:
            becomeFollower(term: m.term, leader: m.from)
            try handleAppend(m)
        case .heartbeat:
            becomeFollower(term: m.term, leader: m.from)
            try handleHeartbeat(m)
        case .snapshot:
            becomeFollower(term: m.term, leader: m.from)
            try handleSnapshot(m)
        case .preVoteResponse where role == .preCandidate:
            try poll(from: m.from, granted: !m.reject)
        case .voteResponse where role == .candidate:
            try poll(from: m.from, granted: !m.reject)
        default:
            break
        }
    }

    private func stepFollower(_ m: Message) throws {
        switch m.kind {
        case .append:
            electionElapsed = 0
            leader = m.from
            try handleAppend(m)
            requestSnapshotIfAwaiting()
        case .heartbeat:
            electionElapsed = 0
            leader = m.from
            try handleHeartbeat(m)
            requestSnapshotIfAwaiting()
        case .snapshot:
            electionElapsed = 0
            leader = m.from
            try handleSnapshot(m)
        case .timeoutNow:
            try hup(transfer: true)
        case .readIndexResponse:
            readStates.append(ReadState(index: m.logIndex, context: m.context))
        case .readIndex:
            // A request for a leader we no longer are; forward it if we know one.
            if leader != 0 {
                send(Message(kind: .readIndex, from: m.from, to: leader, term: term, context: m.context))
            }
        default:
            break
        }
    }

    private func handleAppend(_ m: Message) throws {
        if m.logIndex < log.committed {
            send(Message(kind: .appendResponse, from: id, to: m.from, term: term, logIndex: log.committed))
            return
        }
        if let lastNew = try log.maybeAppend(index: m.logIndex, logTerm: m.logTerm, committed: m.commit, entries: m.entries) {
            send(Message(kind: .appendResponse, from: id, to: m.from, term: term, logIndex: lastNew))
        } else {
            let hintIndex = min(m.logIndex, try log.lastIndex())
            let hint = try log.findConflictByTerm(index: hintIndex, term: m.logTerm)
            send(Message(
                kind: .appendResponse, from: id, to: m.from, term: term,
                logIndex: m.logIndex, logTerm: hint.term, reject: true, rejectHint: hint.index))
        }
    }

    private func handleHeartbeat(_ m: Message) throws {
        try log.commit(to: min(m.commit, try log.lastIndex()))
        send(Message(kind: .heartbeatResponse, from: id, to: m.from, term: term, context: m.context))
    }

    /// Asks the leader for a snapshot, at most once per election timeout.
    private func requestSnapshotIfAwaiting() {
        guard awaitingSnapshot, pendingStateRestore == nil, leader != 0, snapshotRequestElapsed == 0 else { return }
        snapshotRequestElapsed = config.electionTick
        send(Message(kind: .snapshotRequest, from: id, to: leader, term: term))
    }

    private func handleSnapshot(_ m: Message) throws {
        guard let chunk = m.snapshot else { return }
        let snapshot = SnapshotMetadata(index: chunk.index, term: chunk.term, configuration: chunk.configuration)
        if awaitingSnapshot {
            try handleAwaitedSnapshot(snapshot, from: m.from)
            return
        }
        if try restore(snapshot) {
            send(Message(kind: .appendResponse, from: id, to: m.from, term: term, logIndex: try log.lastIndex()))
        } else {
            send(Message(kind: .appendResponse, from: id, to: m.from, term: term, logIndex: log.committed))
        }
    }

    /// A snapshot for a node whose state store is behind its log. Too old
    /// (before the log's compaction point: the entries between are gone) is
    /// ignored, and asked for again later. One whose last entry the log
    /// holds restores the state store and keeps the log (Figure 13, step 6:
    /// the entries after it may be ones this node acknowledged). Otherwise it
    /// replaces log and state as for any follower.
    private func handleAwaitedSnapshot(_ snapshot: SnapshotMetadata, from leader: NodeID) throws {
        let compacted = try log.firstIndex() - 1
        guard snapshot.index >= compacted, pendingStateRestore == nil, log.unstable.snapshot == nil else { return }
        if try log.matchTerm(snapshot.index, snapshot.term) {
            // The log is cut at the snapshot before this Ready's entries are
            // written: they must all come after it (ask again otherwise).
            guard log.unstable.entries.first.map({ $0.index > snapshot.index }) ?? true else { return }
            pendingStateRestore = snapshot
            try log.commit(to: max(log.committed, snapshot.index))
            configuration = snapshot.configuration
            // Only the snapshot's entry is known to match the leader's log;
            // the leader probes the rest.
            send(Message(kind: .appendResponse, from: id, to: leader, term: term, logIndex: snapshot.index))
            return
        }
        guard role == .follower else { return }
        log.restore(snapshot)
        configuration = snapshot.configuration
        resetProgress(next: snapshot.index + 1)
        send(Message(kind: .appendResponse, from: id, to: leader, term: term, logIndex: try log.lastIndex()))
    }

    private func restore(_ snapshot: SnapshotMetadata) throws -> Bool {
        guard snapshot.index > log.committed else { return false }
        guard role == .follower else { return false }
        if try log.matchTerm(snapshot.index, snapshot.term) {
            // We already have the snapshot's last entry: just fast-forward.
            try log.commit(to: snapshot.index)
            return false
        }
        log.restore(snapshot)
        configuration = snapshot.configuration
        resetProgress(next: snapshot.index + 1)
        return true
    }

    // MARK: Membership

    private func applyConfiguration(_ next: ClusterConfiguration) throws {
        configuration = next
        if role == .leader {
            let last = try log.lastIndex()
            for member in next.members where progress[member] == nil {
                var pr = Progress(next: last + 1, inflightCapacity: config.maxInflightMessages, isLearner: !next.voters.contains(member))
                pr.recentActive = true
                progress[member] = pr
            }
            for member in progress.keys where !next.members.contains(member) {
                progress[member] = nil
            }
            for member in next.members {
                progress[member]?.isLearner = !next.voters.contains(member)
            }
            if !next.voters.contains(id) {
                // A removed (or demoted) leader steps down.
                becomeFollower(term: term, leader: 0)
                return
            }
            if leadTransferee != 0 && !next.voters.contains(leadTransferee) { leadTransferee = 0 }
            if try maybeCommit() { try broadcastAppend() }
        } else {
            resetProgress(next: (try log.lastIndex()) + 1)
        }
    }

    // MARK: Sending

    private func send(_ m: Message) {
        switch m.kind {
        case .voteResponse, .appendResponse, .snapshotResponse:
            // Promises about durable state: sent once the Ready is persisted.
            messagesAfterPersist.append(m)
        default:
            messages.append(m)
        }
    }
}
