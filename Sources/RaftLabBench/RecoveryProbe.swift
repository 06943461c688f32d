import NoSQL
import RaftLabNode
import RaftLabReport
import StorageCore

/// The four recovery measurements on one cluster, in process or one process
/// per node (`--transport tcp`):
/// (a) restart of a follower from its data directory after N entries,
/// (b) catch-up of a follower that was down while N writes happened,
/// (c) a new, empty node catching up through InstallSnapshot,
/// (d) leader failover: leader stopped until the next committed write,
/// (e) with `--migrate-to`, a live swap of every node's engine under load
/// (in process only; see `MigrationProbe`).
///
/// Over TCP a follower is stopped with SIGTERM and started as a new process
/// (restart and catch-up include the process start), the leader is ended
/// with SIGKILL, and (c) is not measured: adding a node needs membership
/// endpoints the HTTP API does not have. A memory store dies with its node
/// process, so over TCP such a node can neither restart nor catch up from
/// where it was; (a) and (b) are then not measured either.
struct RecoveryProbe: Sendable {
    let options: BenchOptions
    let backend: BackendPair
    let directory: String
    let registry: BackendRegistry

    func run() async throws -> RecoveryTimes {
        let entries = options.recoveryEntries
        var times = RecoveryTimes(entries: entries)
        guard entries > 0 else { return times }
        let launcher = ClusterLauncher(options: options, registry: registry)
        var config = BenchConfig.cluster(
            options, backend: backend, directory: directory, extraNodes: launcher.supportsMembershipChanges ? 1 : 0)
        // The leader must have compacted its log for the empty node to need a snapshot.
        config.engine.snapshotEntries = max(50, min(config.engine.snapshotEntries, entries / 2))
        config.engine.snapshotKeepEntries = min(config.engine.snapshotKeepEntries, entries / 10)
        let cluster = try await launcher.launch(config, voters: options.nodes)
        do {
            let leader = try await cluster.leader()
            _ = try await leader.replicate(.createTable(TableSchema(name: LoadGenerator.table, partitionKey: "k")))
            try await fill(cluster, entries)

            if options.nodes > 1, let follower = cluster.nodes.first(where: { $0.id != leader.id })?.id {
                // A store that dies with its process cannot restart: a node on
                // it comes back as a new member, which snapshot_install measures.
                if isPersistent && cluster.restartKeepsData { times.restartUs = try await restart(follower, in: cluster) }
                if cluster.restartKeepsData {
                    times.catchUpUs = try await catchUp(follower, in: cluster, entries: entries)
                }
                if let members = cluster as? any MembershipControl {
                    times.snapshotInstallUs = try await snapshotInstall(in: members)
                }
                if let target = options.migrateTo, let local = cluster as? InProcessBenchCluster {
                    times.migration = try await MigrationProbe(target: target, valueSize: options.valueSize).run(local.cluster)
                }
                times.failoverUs = try await failover(in: cluster)
            }
            await cluster.shutdown()
        } catch {
            // A node process that died explains most failures: say so while its log is still there.
            let failure = cluster.failureReport
            await cluster.shutdown()
            if let failure { throw BenchError.failed("\(error); meanwhile \(failure)") }
            throw error
        }
        return times
    }

    /// Writes `count` items with many clients, so filling is quick.
    private func fill(_ cluster: any BenchCluster, _ count: Int) async throws {
        let load = LoadGenerator(
            concurrency: 64, valueSize: options.valueSize, distribution: .sequential,
            keySpace: UInt64(count), readRatio: 0, seed: options.seed)
        _ = try await load.run(leader: { try await cluster.leader() }, ops: count, duration: .seconds(3600), recorder: nil)
    }

    private func restart(_ id: UInt64, in cluster: any BenchCluster) async throws -> Double {
        let target = try await cluster.leader().status().commitIndex
        try await cluster.stop(id)
        let started = ContinuousClock.now
        try await cluster.start(id)
        try await waitUntilApplied(id, target, in: cluster)
        return microseconds(since: started)
    }

    private func catchUp(_ id: UInt64, in cluster: any BenchCluster, entries: Int) async throws -> Double {
        try await cluster.stop(id)
        try await fill(cluster, entries)
        let target = try await cluster.leader().status().commitIndex
        let started = ContinuousClock.now
        try await cluster.start(id)
        try await waitUntilApplied(id, target, in: cluster)
        return microseconds(since: started)
    }

    private func snapshotInstall(in cluster: any MembershipControl) async throws -> Double {
        let newcomer = UInt64(options.nodes + 1)
        let target = try await cluster.leader().status().commitIndex
        try await cluster.startJoining(newcomer)
        let started = ContinuousClock.now
        try await cluster.addLearner(newcomer)
        try await waitUntilApplied(newcomer, target, in: cluster)
        let elapsed = microseconds(since: started)
        try await cluster.removeNode(newcomer)
        try await cluster.stop(newcomer)
        return elapsed
    }

    private func failover(in cluster: any BenchCluster) async throws -> Double {
        let old = try await cluster.leader()
        let started = ContinuousClock.now
        try await cluster.crash(old.id)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            do {
                let leader = try await cluster.leader(within: deadline - ContinuousClock.now)
                _ = try await leader.replicate(.putItem(
                    table: LoadGenerator.table, item: LoadGenerator.item(key: 0, value: "failover"), expectedVersion: nil))
                return microseconds(since: started)
            } catch is NodeError {
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        throw BenchError.failed("no write committed within 30 s of stopping the leader")
    }

    private var isPersistent: Bool {
        [backend.log, backend.state].allSatisfy { (try? registry.backend(named: $0).isPersistent) ?? false }
    }

    private func waitUntilApplied(_ id: UInt64, _ index: UInt64, in cluster: any BenchCluster) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if let node = cluster.node(id), let status = try? await node.status(), status.appliedIndex >= index { return }
            try await Task.sleep(for: .microseconds(200))
        }
        throw BenchError.failed("node \(id) did not reach index \(index) within 120 s")
    }
}

func microseconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12
}
