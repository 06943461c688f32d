import EncryptedStorage
import Foundation
import Logging
import Raft
import RaftLabAPI
import RaftRuntime
import RaftTCPTransport
import StorageCore

/// One member as a node sees it.
public struct MemberView: Sendable, Hashable {
    public var id: UInt64
    public var isVoter: Bool
    public var isLeader: Bool
    /// Its record (addresses and backends); nil for a member of the cluster's
    /// first configuration that no membership change has registered yet.
    public var record: MemberRecord?
    /// Addresses from this node's config file (or what joining said) when there is no record.
    public var configuredNode: ClusterConfig.Node?
    /// The leader's view: the highest index known to match its log (nil on followers).
    public var match: UInt64?
    /// The leader's view: time since it last heard from this member.
    public var sinceLastHeard: Duration?

    public init(
        id: UInt64, isVoter: Bool, isLeader: Bool, record: MemberRecord?, configuredNode: ClusterConfig.Node?,
        match: UInt64? = nil, sinceLastHeard: Duration? = nil
    ) {
        self.id = id
        self.isVoter = isVoter
        self.isLeader = isLeader
        self.record = record
        self.configuredNode = configuredNode
        self.match = match
        self.sinceLastHeard = sinceLastHeard
    }

    public var raftAddress: HostPort? { record?.raftAddress ?? configuredNode?.raftAddress }
    public var httpAddress: HostPort? { record?.httpAddress ?? configuredNode?.httpAddress }
}

/// The cluster's membership as one node sees it (`member list`).
public struct MembershipView: Sendable, Hashable {
    /// The node that answered.
    public var nodeID: UInt64
    public var clusterID: UInt64
    public var leaderID: UInt64
    public var term: UInt64
    public var commitIndex: UInt64
    public var lastIndex: UInt64
    public var members: [MemberView]

    public init(
        nodeID: UInt64, clusterID: UInt64, leaderID: UInt64, term: UInt64, commitIndex: UInt64, lastIndex: UInt64,
        members: [MemberView]
    ) {
        self.nodeID = nodeID
        self.clusterID = clusterID
        self.leaderID = leaderID
        self.term = term
        self.commitIndex = commitIndex
        self.lastIndex = lastIndex
        self.members = members
    }

    public func member(_ id: UInt64) -> MemberView? { members.first { $0.id == id } }
    public var voters: [UInt64] { members.filter(\.isVoter).map(\.id) }
    public var learners: [UInt64] { members.filter { !$0.isVoter }.map(\.id) }
}

/// Why a membership operation was refused.
public enum MembershipError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The request makes no sense for this cluster (not a member, an address in use...).
    case invalid(String)
    /// Another change is in progress, or the member already is what was asked.
    case conflict(String)
    /// The change would leave the voters without a reachable quorum.
    case wouldLoseQuorum(String)
    /// The member to promote has not caught up with the leader's log in time.
    case notCaughtUp(String)
    /// The node to add does not answer (or is not the node it should be).
    case unreachable(String)
    /// The change was proposed but its outcome is not known in time.
    case outcomeUnknown(String)

    public var description: String {
        switch self {
        case .invalid(let why), .conflict(let why), .wouldLoseQuorum(let why), .notCaughtUp(let why),
            .unreachable(let why), .outcomeUnknown(let why):
            why
        }
    }
}

extension ClusterNode {
    // MARK: Reading the membership

    /// The membership as this node knows it: its applied configuration, the
    /// member records, and on the leader each member's replication progress.
    public func membership() async -> MembershipView {
        let status = await raft.status
        let replication = await raft.replication
        // Reread the records (a small prefix scan) rather than wait for the
        // watcher: a caller acting on the answer must see what was applied.
        refreshDirectory()
        let records = directory.withLock { $0 }
        let configuration = status.configuration
        let members = configuration.members.sorted().map { member in
            MemberView(
                id: member, isVoter: configuration.voters.contains(member), isLeader: member == status.leader,
                record: records[member],
                configuredNode: config.nodes.first { $0.id == member }
                    ?? joinPeers[member].map { ClusterConfig.Node(id: $0.id, raftAddress: $0.raftAddress, httpAddress: $0.httpAddress) },
                match: replication[member]?.match, sinceLastHeard: replication[member]?.sinceLastHeard)
        }
        return MembershipView(
            nodeID: id, clusterID: configuration.clusterID, leaderID: status.leader ?? 0, term: status.term,
            commitIndex: status.commitIndex, lastIndex: status.lastIndex, members: members)
    }

    /// This node's own record: what its config says about it.
    public func ownRecord(replaces: UInt64 = 0) -> MemberRecord? {
        guard let me = config.nodes.first(where: { $0.id == id }) else { return nil }
        return MemberRecord(
            id: id, raftAddress: me.raftAddress, httpAddress: me.httpAddress, logBackend: config.storage.log,
            stateBackend: config.storage.state, replaces: replaces)
    }

    /// Where member `member` serves HTTP: its record, else this node's config.
    public func httpAddress(of member: UInt64) -> HostPort? {
        if let record = directory.withLock({ $0[member] }) ?? joinPeers[member] { return record.httpAddress }
        return config.nodes.first { $0.id == member }?.httpAddress
    }

    // MARK: Changing it (on the leader)

    /// Adds a member: its record first (so every node learns its addresses),
    /// then a learner, then with `asVoter` a voter once it has caught up.
    /// Members of the first configuration that were never registered get
    /// their records too (`others`, e.g. from their `/status`), so a node
    /// that joins later finds every member in its state.
    ///
    /// Asking again for what already holds (the same record, already a
    /// learner or voter) succeeds, so an interrupted operation can be retried.
    public func addMember(_ record: MemberRecord, asVoter: Bool, others: [MemberRecord] = []) async throws -> MembershipView {
        try await exclusively("adding node \(record.id)") {
            guard record.id != 0 else { throw MembershipError.invalid("node ids start at 1; 0 means 'none' in Raft") }
            var view = try await leaderView()
            let records = directory.withLock { $0 }
            for other in records.values where other.id != record.id && view.member(other.id) != nil {
                if other.raftAddress == record.raftAddress || other.httpAddress == record.httpAddress {
                    throw MembershipError.invalid(
                        "node \(other.id) already listens at \(other.raftAddress) (raft) / \(other.httpAddress) (http); node \(record.id) needs addresses of its own")
                }
            }
            if let existing = view.member(record.id) {
                if let known = existing.record, !known.describesSameNode(as: record) {
                    throw MembershipError.conflict(
                        "node \(record.id) is already a \(existing.isVoter ? "voter" : "learner") at \(known.raftAddress) (raft); remove it first to add it again")
                }
                if existing.isVoter || !asVoter { return view }
            } else {
                for other in others where records[other.id] == nil && view.member(other.id) != nil {
                    try await writeRecord(.put(other))
                }
                try await writeRecord(.put(record))
                try await change { try await raft.addLearner(record.id) }
                view = await membership()
                guard asVoter else { return view }
            }
            return try await promoteLocked(record.id)
        }
    }

    /// Makes learner `member` a voter once it has caught up with the log.
    public func promoteMember(_ member: UInt64, catchUpTimeout: Duration = .seconds(60)) async throws -> MembershipView {
        try await exclusively("promoting node \(member)") {
            try await promoteLocked(member, catchUpTimeout: catchUpTimeout)
        }
    }

    /// Removes a member. A leader removing itself hands leadership to the
    /// most up-to-date reachable voter first and then throws `notLeader`
    /// naming it: the removal is finished there (the HTTP layer forwards it),
    /// so the cluster never waits out an election for it.
    public func removeMember(_ member: UInt64) async throws -> MembershipView {
        try await exclusively("removing node \(member)") {
            let view = try await leaderView()
            guard let removed = view.member(member) else {
                throw MembershipError.invalid("node \(member) is not a member (voters \(view.voters), learners \(view.learners))")
            }
            if removed.isVoter {
                let remaining = Set(view.voters).subtracting([member])
                guard !remaining.isEmpty else { throw MembershipError.invalid("node \(member) is the last voter; a cluster needs one") }
                try checkQuorum(voters: remaining, view: view, action: "removing node \(member)")
            }
            if member == id {
                let target = try transferTarget(view, excluding: member)
                logger.notice("moving leadership off this node before removing it", metadata: ["to": "\(target)"])
                try await change { try await raft.transferLeadership(to: target) }
                throw nodeError(.notLeader(leaderHint: target))
            }
            try await change { try await raft.removeNode(member) }
            if directory.withLock({ $0[member] }) != nil { try? await writeRecord(.delete(member)) }
            return await membership()
        }
    }

    /// Hands leadership to `target` (nil: the most up-to-date reachable
    /// voter); returns the new leader.
    @discardableResult
    public func transferLeadership(to target: UInt64?) async throws -> UInt64 {
        try await exclusively("transferring leadership") {
            let view = try await leaderView()
            let chosen = try target ?? transferTarget(view, excluding: id)
            guard chosen != id else { return id }
            guard let member = view.member(chosen), member.isVoter else {
                throw MembershipError.invalid(
                    "node \(chosen) is not a voter (voters \(view.voters)); only a voter can lead\(view.learners.contains(chosen) ? ": promote it first" : "")")
            }
            guard isLive(member) else {
                throw MembershipError.conflict("node \(chosen) has not been heard from for \(describe(member.sinceLastHeard)); it cannot take over")
            }
            try await change { try await raft.transferLeadership(to: chosen) }
            return chosen
        }
    }

    /// Writes `record` (this node must lead): a member's own correction.
    public func updateRecord(_ record: MemberRecord) async throws {
        let view = try await leaderView()
        guard view.member(record.id) != nil else {
            throw MembershipError.invalid("node \(record.id) is not a member; add it with `member add-learner`")
        }
        var corrected = record
        if let existing = directory.withLock({ $0[record.id] }) {
            if existing.describesSameNode(as: record) { return }
            corrected.replaces = existing.replaces
        }
        try await writeRecord(.put(corrected))
    }

    // MARK: Internals

    private func promoteLocked(_ member: UInt64, catchUpTimeout: Duration = .seconds(60)) async throws -> MembershipView {
        var view = try await leaderView()
        guard let learner = view.member(member) else {
            throw MembershipError.invalid("node \(member) is not a member; add it with `member add-learner` first")
        }
        if learner.isVoter { return view }
        // Wait for the learner to catch up (a snapshot may be streaming): to
        // hold every entry the leader had when the promotion was asked for.
        // Under a steady load the leader's last index moves on meanwhile; a
        // learner that reached the mark keeps pace, and a fixed distance to a
        // moving target might never be reached.
        let mark = view.lastIndex
        let deadline = ContinuousClock.now + catchUpTimeout
        while true {
            view = try await leaderView()
            guard let current = view.member(member), !current.isVoter else { return view }
            if let match = current.match, match >= mark || match + 100 >= view.lastIndex, isLive(current) { break }
            guard ContinuousClock.now < deadline else {
                throw MembershipError.notCaughtUp(
                    "node \(member) matches the leader's log through index \(current.match ?? 0) of \(view.lastIndex) and was last heard from \(describe(current.sinceLastHeard)) ago; it has not caught up within \(catchUpTimeout) (is it running? a large snapshot may still be streaming: retry)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        try checkQuorum(voters: Set(view.voters + [member]), view: view, action: "promoting node \(member)")
        try await change { try await raft.addVoter(member) }
        return await membership()
    }

    /// The membership, or `notLeader` when this node does not lead.
    private func leaderView() async throws -> MembershipView {
        let view = await membership()
        guard view.leaderID == id else { throw nodeError(.notLeader(leaderHint: view.leaderID == 0 ? nil : view.leaderID)) }
        return view
    }

    /// A member is live when the leader heard from it within a few election timeouts.
    private func isLive(_ member: MemberView) -> Bool {
        if member.id == id { return true }
        guard let since = member.sinceLastHeard else { return false }
        return since <= liveWindow
    }

    private var liveWindow: Duration {
        max(.milliseconds(config.engine.tickMilliseconds * config.engine.electionTicks * 4), .seconds(1))
    }

    /// Refuses a change after which the voters could not form a quorum of
    /// members the leader hears from.
    private func checkQuorum(voters: Set<UInt64>, view: MembershipView, action: String) throws {
        let live = voters.filter { voter in view.member(voter).map(isLive) ?? false }.sorted()
        let quorum = voters.count / 2 + 1
        guard live.count >= quorum else {
            let down = voters.subtracting(live).sorted()
            throw MembershipError.wouldLoseQuorum(
                "\(action) would leave \(voters.count) voter\(voters.count == 1 ? "" : "s") \(voters.sorted()) of which only \(live.count) \(live) \(live.count == 1 ? "is" : "are") reachable; a quorum needs \(quorum). Bring \(down.map { "node \($0)" }.joined(separator: ", ")) back first")
        }
    }

    /// The reachable voter, other than `excluded`, with the longest log.
    private func transferTarget(_ view: MembershipView, excluding excluded: UInt64) throws -> UInt64 {
        let candidates = view.members.filter { $0.isVoter && $0.id != excluded && isLive($0) }
        guard let best = candidates.max(by: { ($0.match ?? 0, $1.id) < ($1.match ?? 0, $0.id) }) else {
            throw MembershipError.wouldLoseQuorum("no other voter is reachable to take over leadership")
        }
        return best.id
    }

    private func describe(_ duration: Duration?) -> String {
        guard let duration else { return "never (since the leader started)" }
        let ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return "\(ms) ms"
    }

    /// Runs `body` as this node's one membership operation.
    private func exclusively<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        let running = operation.withLock { current -> String? in
            if let current { return current }
            current = what
            return nil
        }
        if let running {
            throw MembershipError.conflict("one membership change at a time: \(running) is in progress; retry when it is done")
        }
        defer { operation.withLock { $0 = nil } }
        return try await body()
    }

    /// Runs an engine membership call, turning its errors into what a client can act on.
    private func change(_ body: () async throws -> Void) async throws {
        // The engine refuses a change while an earlier one is not applied yet
        // (a new leader first applies its whole log): that clears by itself,
        // so wait a little before saying so. Requests from clients are kept
        // to one at a time by `exclusively`.
        let patience = ContinuousClock.now + .seconds(3)
        while true {
            do {
                try await body()
                return
            } catch RaftError.configurationChangeInProgress where ContinuousClock.now < patience {
                try await Task.sleep(for: .milliseconds(20))
            } catch {
                try translate(error)
            }
        }
    }

    private func translate(_ error: any Error) throws -> Never {
        do {
            throw error
        } catch let error as RaftError {
            switch error {
            case .configurationChangeInProgress:
                throw MembershipError.conflict(
                    "a membership change is still being applied (one change at a time); retry when it is")
            case .transferInProgress:
                throw MembershipError.conflict("a leadership transfer is in progress; retry when it is done")
            case .invalidConfigurationChange(let why):
                throw MembershipError.invalid(why)
            case .timeout:
                throw MembershipError.outcomeUnknown(
                    "the change did not complete within the operation timeout; it may still take effect: check `raftlab member list`")
            default:
                throw nodeError(error)
            }
        }
    }

    /// Writes a member record through Raft and refreshes the address book.
    private func writeRecord(_ operation: MemberRecordEnvelope.Operation) async throws {
        do {
            _ = try await raft.propose(MemberRecordEnvelope(operation).encoded())
        } catch let error as RaftError {
            if case .timeout = error { throw nodeError(.outcomeUnknown("the member record did not commit in time")) }
            throw nodeError(error)
        }
        refreshDirectory()
    }

    // MARK: Directory and address book

    /// Rereads the member records and points the TCP transport at every
    /// member's Raft address: config file first, then what joining said,
    /// then the records, which win.
    func refreshDirectory() {
        let records = (try? MemberRegistry.records(in: stateStore)) ?? directory.withLock { $0 }
        directory.withLock { $0 = records }
        guard let tcp else { return }
        var book: [NodeID: PeerAddress] = [:]
        for node in config.nodes { book[node.id] = PeerAddress(host: node.raftAddress.host, port: node.raftAddress.port) }
        for record in joinPeers.values.sorted(by: { $0.id < $1.id }) + records.values.sorted(by: { $0.id < $1.id }) {
            book[record.id] = PeerAddress(host: record.raftAddress.host, port: record.raftAddress.port)
        }
        book[id] = nil
        if book != tcp.peers {
            logger.info("address book updated", metadata: ["peers": "\(book.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" })"])
            tcp.updatePeers(book)
        }
    }

    /// Every 200 ms: reread the records (they change by log entries and
    /// snapshots alike); every 2 s: correct this node's own record if it
    /// exists and no longer says what this node is.
    func startWatcher() {
        let task = Task { [weak self] in
            var rounds = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(200))
                guard let self, !Task.isCancelled else { return }
                self.refreshDirectory()
                rounds += 1
                if rounds % 10 == 0 { await self.correctOwnRecord() }
            }
        }
        watcher.withLock { $0 = task }
    }

    func stopWatcher() {
        watcher.withLock { task in
            task?.cancel()
            task = nil
        }
    }

    private func correctOwnRecord() async {
        guard let existing = directory.withLock({ $0[id] }), let mine = ownRecord(replaces: existing.replaces),
            !existing.describesSameNode(as: mine)
        else { return }
        let status = await raft.status
        guard status.configuration.members.contains(id), let leader = status.leader else { return }
        do {
            if leader == id {
                try await updateRecord(mine)
            } else if let registrar, let address = httpAddress(of: leader) {
                try await registrar(mine, leader, address)
            } else {
                return
            }
            logger.notice(
                "corrected this node's member record",
                metadata: ["raft_addr": "\(mine.raftAddress)", "http_addr": "\(mine.httpAddress)", "log": "\(mine.logBackend)", "state": "\(mine.stateBackend)"])
        } catch {
            logger.debug("could not correct this node's member record yet", metadata: ["error": "\(error)"])
        }
    }
}

/// What the HTTP layer's `/cluster` routes need from a node, beside
/// `NoSQLService`: the membership and its changes, and consistent snapshots
/// for backups. `ClusterNode` is one; a service without it serves no
/// `/cluster` routes.
public protocol ClusterAdministration: Sendable {
    var id: UInt64 { get }
    func membership() async -> MembershipView
    func addMember(_ record: MemberRecord, asVoter: Bool, others: [MemberRecord]) async throws -> MembershipView
    func promoteMember(_ member: UInt64, catchUpTimeout: Duration) async throws -> MembershipView
    func removeMember(_ member: UInt64) async throws -> MembershipView
    func transferLeadership(to target: UInt64?) async throws -> UInt64
    func updateRecord(_ record: MemberRecord) async throws
    func ownRecord(replaces: UInt64) -> MemberRecord?
    /// A consistent snapshot of this node's state that includes every write
    /// acknowledged before the call (after a ReadIndex round), and its header.
    func backupSnapshot() async throws -> (header: BackupHeader, snapshot: any StateSnapshot)
    /// The key backups are sealed with (the key of the node's stores); nil
    /// writes them in the clear, as the stores are.
    var backupKey: EncryptionKey? { get }
}

extension ClusterNode: ClusterAdministration {
    public func backupSnapshot() async throws -> (header: BackupHeader, snapshot: any StateSnapshot) {
        let snapshot = try await read(.strong) { _, store in try store.snapshot() }
        let status = await raft.status
        let header = BackupHeader(
            index: snapshot.position.index, term: snapshot.position.term, clusterID: status.configuration.clusterID,
            nodeID: id, createdUnixMilliseconds: UInt64(max(0, Date().timeIntervalSince1970 * 1000)),
            logBackend: config.storage.log, stateBackend: config.storage.state)
        return (header, snapshot)
    }
}
