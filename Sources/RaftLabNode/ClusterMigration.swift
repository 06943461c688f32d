/// What a live engine swap needs from a cluster: its membership, the four
/// membership operations, and a way to start (and stop) nodes. One
/// implementation drives nodes in this process (`LocalCluster`), another a
/// cluster of node processes over HTTP (`raftlab migrate-cluster`).
public protocol MigrationDriver: Sendable {
    /// The membership as the leader sees it (with replication progress).
    func membership() async throws -> MembershipView
    func addLearner(_ record: MemberRecord) async throws
    /// Promotes a learner once it has caught up.
    func promote(_ id: UInt64) async throws
    func transferLeadership(to id: UInt64) async throws
    /// Removes a member that does not lead.
    func remove(_ id: UInt64) async throws
    /// Starts (or finds running) an empty node that joins the cluster on the
    /// target backends to replace `old`; returns its record (`replaces` set).
    func startReplacement(for old: MemberView, in view: MembershipView, log: String, state: String) async throws -> MemberRecord
    /// Stops a node that left the cluster (best effort).
    func retire(_ member: MemberView) async
}

/// Replaces every member of a running cluster, one at a time, by a node on
/// other storage engines, while the cluster keeps serving:
///
///     start an empty node on the new engines → add it as a learner → it
///     catches up (InstallSnapshot, then the log) → promote it → move
///     leadership off the member it replaces if that one leads → remove
///     the old member → stop it
///
/// The cluster never has fewer voters than it started with, so it tolerates
/// as many failures throughout; a write waits only while leadership moves
/// (once, for the last member). Every decision is read back from the
/// cluster's membership, where each replacement's record names the member it
/// replaces: an interrupted swap, run again, finishes the replacement it was
/// in and goes on with the next (resumable). Members whose record already
/// names the target engines are left alone.
public struct ClusterMigration: Sendable {
    public var log: String
    public var state: String
    /// Told one line per step.
    public var report: (@Sendable (String) -> Void)?

    public init(log: String, state: String, report: (@Sendable (String) -> Void)? = nil) {
        self.log = log
        self.state = state
        self.report = report
    }

    /// What a finished swap did.
    public struct Summary: Sendable, Hashable {
        /// Old member → the member that replaced it, in order.
        public var replaced: [(old: UInt64, new: UInt64)] = []
        public var leadershipTransfers = 0
        /// False when `maxSteps` ran out first: run again to go on.
        public var finished = false
        public var steps = 0

        public static func == (a: Summary, b: Summary) -> Bool {
            a.leadershipTransfers == b.leadershipTransfers && a.replaced.map(\.old) == b.replaced.map(\.old)
                && a.replaced.map(\.new) == b.replaced.map(\.new)
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(leadershipTransfers)
            for pair in replaced { hasher.combine(pair.old); hasher.combine(pair.new) }
        }
    }

    /// True when `member` already runs the target engines.
    public func isMigrated(_ member: MemberView) -> Bool {
        member.record.map { $0.logBackend == log && $0.stateBackend == state } ?? false
    }

    /// Runs (or resumes) the swap until every member runs the target
    /// engines, or for at most `maxSteps` steps (a staged swap: run again
    /// to go on).
    @discardableResult
    public func run(_ driver: some MigrationDriver, maxSteps: Int = 1_000) async throws -> Summary {
        var summary = Summary()
        while true {
            let view = try await driver.membership()
            let done = view.members.allSatisfy(isMigrated)
            if summary.steps >= maxSteps && !done { return summary }
            if let step = try await finishReplacement(view, driver, &summary) {
                summary.steps += 1
                report?(step)
                continue
            }
            // Followers first, the leader last: leadership moves once.
            let remaining = view.members.filter { !isMigrated($0) }.sorted { ($0.isLeader ? 1 : 0, $0.id) < ($1.isLeader ? 1 : 0, $1.id) }
            guard let old = remaining.first else {
                report?("every member runs log=\(log) state=\(state): \(view.members.map { "node \($0.id)" }.joined(separator: ", "))")
                summary.finished = true
                return summary
            }
            let record = try await driver.startReplacement(for: old, in: view, log: log, state: state)
            report?("node \(record.id) is up on log=\(record.logBackend) state=\(record.stateBackend) to replace node \(old.id) (raft \(record.raftAddress), http \(record.httpAddress))")
            try await driver.addLearner(record)
            summary.steps += 1
            report?("node \(record.id) added as a learner; catching up")
        }
    }

    /// One step of a replacement under way (a member on the target engines
    /// whose record names a member still in the cluster), or nil if none is.
    private func finishReplacement(_ view: MembershipView, _ driver: some MigrationDriver, _ summary: inout Summary) async throws -> String? {
        for new in view.members where isMigrated(new) {
            guard let oldID = new.record?.replaces, oldID != 0, let old = view.member(oldID) else { continue }
            if !new.isVoter && old.isVoter {
                try await driver.promote(new.id)
                return "node \(new.id) caught up and was promoted to voter"
            }
            if old.isLeader {
                try await driver.transferLeadership(to: new.id)
                summary.leadershipTransfers += 1
                return "leadership moved from node \(old.id) to node \(new.id)"
            }
            try await driver.remove(old.id)
            await driver.retire(old)
            summary.replaced.append((old.id, new.id))
            return "node \(old.id) removed; node \(new.id) replaces it"
        }
        return nil
    }
}
