import NoSQL
import RaftLabNode
import RaftLabReport
import StorageCore

/// The four recovery measurements on one in-process cluster:
/// (a) restart of a follower from its data directory after N entries,
/// (b) catch-up of a follower that was down while N writes happened,
/// (c) a new, empty node catching up through InstallSnapshot,
/// (d) leader failover: leader stopped until the next committed write.
struct RecoveryProbe: Sendable {
    let options: BenchOptions
    let backend: BackendPair
    let directory: String
    let registry: BackendRegistry

    func run() async throws -> RecoveryTimes {
        let entries = options.recoveryEntries
        var times = RecoveryTimes(entries: entries)
        guard entries > 0 else { return times }
        var config = BenchConfig.cluster(options, backend: backend, directory: directory, extraNodes: 1)
        // The leader must have compacted its log for the empty node to need a snapshot.
        config.engine.snapshotEntries = max(50, min(config.engine.snapshotEntries, entries / 2))
        config.engine.snapshotKeepEntries = min(config.engine.snapshotKeepEntries, entries / 10)
        let cluster = try await LocalCluster(config: config, voters: options.nodes, registry: registry, seed: options.seed)
        do {
            let leader = try await cluster.leader()
            _ = try await leader.write(.createTable(TableSchema(name: LoadGenerator.table, partitionKey: "k")))
            try await fill(cluster, entries)

            if options.nodes > 1, let follower = cluster.nodes.first(where: { $0.id != leader.id })?.id {
                // A store that dies with its process cannot restart: a node on
                // it comes back as a new member, which snapshot_install measures.
                if isPersistent { times.restartUs = try await restart(follower, in: cluster) }
                times.catchUpUs = try await catchUp(follower, in: cluster, entries: entries)
                times.snapshotInstallUs = try await snapshotInstall(in: cluster)
                times.failoverUs = try await failover(in: cluster)
            }
            await cluster.stop()
        } catch {
            await cluster.stop()
            throw error
        }
        return times
    }

    /// Writes `count` items with many clients, so filling is quick.
    private func fill(_ cluster: LocalCluster, _ count: Int) async throws {
        let load = LoadGenerator(
            concurrency: 64, valueSize: options.valueSize, distribution: .sequential,
            keySpace: UInt64(count), readRatio: 0, seed: options.seed)
        _ = try await load.run(leader: { try await cluster.leader() }, ops: count, duration: .seconds(3600), recorder: nil)
    }

    private func restart(_ id: UInt64, in cluster: LocalCluster) async throws -> Double {
        let target = try await cluster.leader().status().commitIndex
        await cluster.stop(id)
        let started = ContinuousClock.now
        try await cluster.start(id)
        try await waitUntilApplied(id, target, in: cluster)
        return microseconds(since: started)
    }

    private func catchUp(_ id: UInt64, in cluster: LocalCluster, entries: Int) async throws -> Double {
        await cluster.stop(id)
        try await fill(cluster, entries)
        let target = try await cluster.leader().status().commitIndex
        let started = ContinuousClock.now
        try await cluster.start(id)
        try await waitUntilApplied(id, target, in: cluster)
        return microseconds(since: started)
    }

    private func snapshotInstall(in cluster: LocalCluster) async throws -> Double {
        let newcomer = UInt64(options.nodes + 1)
        let leader = try await cluster.leader()
        let target = try await leader.status().commitIndex
        try await cluster.start(newcomer, joining: true)
        let started = ContinuousClock.now
        try await leader.raft.addLearner(newcomer)
        try await waitUntilApplied(newcomer, target, in: cluster)
        let elapsed = microseconds(since: started)
        try await leader.raft.removeNode(newcomer)
        await cluster.stop(newcomer)
        return elapsed
    }

    private func failover(in cluster: LocalCluster) async throws -> Double {
        let old = try await cluster.leader()
        let started = ContinuousClock.now
        await cluster.stop(old.id)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            do {
                let leader = try await cluster.leader(within: .seconds(30))
                _ = try await leader.write(.putItem(
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

    private func waitUntilApplied(_ id: UInt64, _ index: UInt64, in cluster: LocalCluster) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if let node = cluster.node(id), try await node.status().appliedIndex >= index { return }
            try await Task.sleep(for: .microseconds(200))
        }
        throw BenchError.failed("node \(id) did not reach index \(index) within 120 s")
    }
}

func microseconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12
}
