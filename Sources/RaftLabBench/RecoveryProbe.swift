import NoSQL
import RaftLabAPI
import RaftLabHarness
import RaftLabNode
import RaftLabReport
import StorageCore

/// The four recovery measurements on one cluster, in process or one process
/// per node (`--transport tcp`), after `entries` writes (and, with
/// `--migrate-to`, a live swap of every node's engine under load, in process
/// only; see `MigrationProbe`):
///
/// (a) **restart**: a follower that applied everything is stopped cleanly
///     and started again from its data directory, until it has applied the
///     leader's commit index. A disk state store reopens at its last
///     checkpoint and the log tail after it is replayed ("tail_replay"); a
///     volatile (memory) state store beside a disk log comes back empty, as
///     a restarted process has it, and is restored from the leader's snapshot
///     ("snapshot"). Not measured when the log is volatile too: such a node
///     cannot come back as itself (Raft forbids a voter forgetting what it
///     acknowledged); it rejoins empty, which (c) measures.
/// (b) **catch-up**: a follower with a disk log is down while `entries` more writes happen
///     (at most 100,000: past that, it catches up through a snapshot of the
///     whole state anyway, which (c) measures at full size), until it has
///     caught up.
/// (c) **snapshot install**: a new, empty node joins as a learner, until it
///     has been restored through InstallSnapshot and caught up; the path of
///     any node whose state is gone, a memory state store's included.
/// (d) **failover**: client-observed unavailability, from the crash of the
///     leader (SIGKILL of its process; in process, cut off and halted
///     without a clean stop) to the first write the new leader acknowledged.
///
/// Filling streams writes through the cluster, so memory stays bounded by
/// the stores themselves whatever `entries` is: nothing here holds the log.
struct RecoveryProbe: Sendable {
    let options: BenchOptions
    let series: BenchSeries
    let entries: Int
    let directory: String
    let registry: BackendRegistry

    func run() async throws -> RecoveryTimes {
        var times = RecoveryTimes(entries: entries)
        guard entries > 0 else { return times }
        var config = try BenchConfig.cluster(options, series: series, directory: directory, extraNodes: 1)
        // The leader must have compacted its log for the empty node to need a snapshot.
        config.engine.snapshotEntries = max(50, min(config.engine.snapshotEntries, entries / 2))
        config.engine.snapshotKeepEntries = min(config.engine.snapshotKeepEntries, entries / 10)
        let cluster = try await ClusterLauncher(options: options, registry: registry).launch(config, voters: options.nodes)
        do {
            let leader = try await cluster.leader()
            _ = try await leader.replicate(.createTable(LoadGenerator.schema))
            try await fill(cluster, entries, from: 0)

            if options.nodes > 1, let follower = cluster.nodes.first(where: { $0.id != leader.id })?.id {
                if isPersistent(series.backend.log) {
                    times.restartPath = isPersistent(series.backend.state) ? "tail_replay" : "snapshot"
                    times.restartUs = try await restart(follower, in: cluster)
                }
                if cluster.restartKeepsData {
                    times.catchUpEntries = Self.catchUpEntries(entries)
                    times.catchUpUs = try await catchUp(follower, in: cluster)
                }
                times.snapshotInstallUs = try await snapshotInstall(in: cluster)
                if let target = options.migrateTo, let local = cluster as? InProcessBenchCluster {
                    times.migration = try await MigrationProbe(target: target, valueSize: options.valueSize).run(local.cluster)
                }
                times.failoverUs = try await failover(in: cluster)
            }
            try await cluster.quiesce()
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

    static func catchUpEntries(_ entries: Int) -> Int { min(entries, 100_000) }

    private func isPersistent(_ backend: String) -> Bool {
        (try? registry.backend(named: backend).isPersistent) ?? false
    }

    /// Writes `count` new items with many clients, so filling is quick.
    private func fill(_ cluster: any BenchCluster, _ count: Int, from first: UInt64) async throws {
        let load = LoadGenerator(
            concurrency: 64, valueSize: options.valueSize, workload: .write, distribution: .sequential,
            records: first, seed: options.seed)
        _ = try await load.run(
            leader: { try await cluster.leader() }, ops: count, stop: .init(after: .seconds(3600), atMost: .seconds(3600)),
            recorders: nil)
    }

    private func restart(_ id: UInt64, in cluster: any BenchCluster) async throws -> Double {
        try await cluster.quiesce()
        try await cluster.stop(id)
        let target = try await cluster.leader().status().commitIndex
        let started = ContinuousClock.now
        try await cluster.start(id)
        try await waitUntilApplied(id, target, in: cluster)
        return microseconds(since: started)
    }

    private func catchUp(_ id: UInt64, in cluster: any BenchCluster) async throws -> Double {
        try await cluster.quiesce()
        try await cluster.stop(id)
        try await fill(cluster, Self.catchUpEntries(entries), from: UInt64(entries))
        let target = try await cluster.leader().status().commitIndex
        let started = ContinuousClock.now
        try await cluster.start(id)
        try await waitUntilApplied(id, target, in: cluster)
        return microseconds(since: started)
    }

    private func snapshotInstall(in cluster: any BenchCluster) async throws -> Double {
        let newcomer = UInt64(options.nodes + 1)
        try await cluster.quiesce()
        let target = try await cluster.leader().status().commitIndex
        try await cluster.startJoining(newcomer)
        let started = ContinuousClock.now
        try await cluster.addLearner(newcomer)
        try await waitUntilApplied(newcomer, target, in: cluster)
        let elapsed = microseconds(since: started)
        try await cluster.removeNode(newcomer)
        // The removed node hears no more; wait until it stops moving, then stop it.
        try await settle(newcomer, in: cluster)
        try await cluster.stop(newcomer)
        return elapsed
    }

    /// Waits until node `id`'s applied index has not moved for 200 ms.
    private func settle(_ id: UInt64, in cluster: any BenchCluster) async throws {
        var last: UInt64?
        var calm = 0
        let deadline = ContinuousClock.now + .seconds(30)
        while calm < 10, ContinuousClock.now < deadline, let node = cluster.node(id) {
            let applied = try? await node.status().appliedIndex
            calm = applied != nil && applied == last ? calm + 1 : 0
            last = applied
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    private func failover(in cluster: any BenchCluster) async throws -> Double {
        try await cluster.quiesce()
        let old = try await cluster.leader()
        let item = LoadGenerator.item(key: 0, value: "failover")
        // One write, retried under one key as an application would: applied once however many attempts it takes.
        let key = "failover-" + String(UInt64.random(in: 1...UInt64.max), radix: 36)
        let started = ContinuousClock.now
        try await cluster.crash(old.id)
        let deadline = ContinuousClock.now + .seconds(30)
        // A client that keeps writing to whoever leads now, as an application would.
        while ContinuousClock.now < deadline {
            do {
                let leader = try await cluster.leader(within: deadline - ContinuousClock.now)
                guard leader.id != old.id else { continue }
                _ = try await leader.replicate(
                    .putItem(table: LoadGenerator.table, item: item, expectedVersion: nil), idempotencyKey: key)
                return microseconds(since: started)
            } catch is NodeError {
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        throw BenchError.failed("no write was acknowledged within 30 s of the leader's crash")
    }

    private func waitUntilApplied(_ id: UInt64, _ index: UInt64, in cluster: any BenchCluster) async throws {
        let deadline = ContinuousClock.now + .seconds(max(120, entries / 2_000))
        while ContinuousClock.now < deadline {
            if let node = cluster.node(id), let status = try? await node.status(), status.appliedIndex >= index { return }
            try await Task.sleep(for: .microseconds(200))
        }
        throw BenchError.failed("node \(id) did not reach index \(index) in time")
    }
}

func microseconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12
}
