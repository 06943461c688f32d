import Foundation
import NoSQL
import RaftLabNode
import RaftLabReport
import StorageCore
import Synchronization

/// `raftlab bench`: the same workload on each backend, in fresh data
/// directories, interleaved across repetitions (A B C D A B C D ...) so that
/// drift of the machine favours no one, with the machine's own floor
/// measured in the same run.
public struct BenchRunner: Sendable {
    public let options: BenchOptions
    public let registry: BackendRegistry
    public let version: String
    private let progress: RaftLabReport.Progress

    public init(options: BenchOptions, registry: BackendRegistry, version: String, progress: RaftLabReport.Progress = .init()) {
        self.options = options
        self.registry = registry
        self.version = version
        self.progress = progress
    }

    /// Everything measured for one backend at one concurrency, over all repetitions.
    private final class Accumulator: Sendable {
        let latency = LatencyRecorder()
        let lag = LatencyRecorder()
        let totals = Mutex(Totals())

        struct Totals {
            var ops = 0
            var writes = 0
            var seconds = 0.0
            var syncs: UInt64? = nil
            var syncsMeasured = true
            var bytesWritten: UInt64? = nil
            var bytesMeasured = true
            var diskBytes: [UInt64] = []
            var recovery: [RecoveryTimes] = []
        }
    }

    public struct Outcome: Sendable {
        public var report: BenchReport
        public var directory: String
        public var files: [String]
    }

    public func run() async throws -> Outcome {
        try options.validate(registry: registry)
        let startedAt = Date()
        let root = NSTemporaryDirectory() + "raftlab-bench-\(UUID().uuidString)"
        try FileSystem.createDirectory(root, sync: false)
        // Node processes must not outlive an interrupted run, nor their data.
        if options.transport == .tcp { ChildProcesses.shared.removeOnSignal(root) }
        defer {
            ChildProcesses.shared.forget(root)
            try? FileSystem.removeTree(root)
            for name in registry.names { try? registry.backend(named: name).forgetVolatileData(under: root) }
        }

        progress.start("measuring the machine's floor", total: 1)
        let floor = try FloorProbe.measure(directory: root)
        progress.finish()

        var accumulators: [String: Accumulator] = [:]
        func accumulator(_ backend: BackendPair, _ concurrency: Int) -> Accumulator {
            let key = "\(backend.log)|\(backend.state)|\(concurrency)"
            if let existing = accumulators[key] { return existing }
            let created = Accumulator()
            accumulators[key] = created
            return created
        }

        let points = options.repetitions * options.backends.count * (options.concurrency.count + 1)
        progress.start("benchmarking", total: points)
        for repetition in 1...options.repetitions {
            for backend in options.backends {
                for concurrency in options.concurrency {
                    let directory = "\(root)/r\(repetition)-\(backend.log)-\(backend.state)-c\(concurrency)"
                    try await measure(backend, concurrency, directory: directory, into: accumulator(backend, concurrency))
                    progress.advance()
                }
                let directory = "\(root)/r\(repetition)-\(backend.log)-\(backend.state)-recovery"
                let recovery = try await RecoveryProbe(options: options, backend: backend, directory: directory, registry: registry).run()
                for concurrency in options.concurrency {
                    accumulator(backend, concurrency).totals.withLock { $0.recovery.append(recovery) }
                }
                cleanUp(directory)
                progress.advance()
            }
        }
        progress.finish()

        var results: [BenchResult] = []
        for backend in options.backends {
            for concurrency in options.concurrency {
                results.append(try result(backend, concurrency, accumulator(backend, concurrency)))
            }
        }
        let report = BenchReport(
            raftlabVersion: version, startedAt: BenchReport.timestamp(startedAt), machine: .current(),
            floor: floor, config: effectiveConfig, results: results)
        let directory = options.outputDirectory ?? BenchReport.defaultOutputDirectory(label: options.label, date: startedAt)
        let files = try ReportWriter.write(report, to: directory, label: options.label)
        return Outcome(report: report, directory: directory, files: files)
    }

    /// One point: a fresh cluster, warm-up, then the measured load.
    ///
    /// Over TCP (one process per node) two columns are not measured and stay
    /// null: replication lag needs every node's apply times on one clock,
    /// which only in-process apply observers give, and syncs per write needs
    /// the stores' sync counters, which live in the node processes.
    private func measure(_ backend: BackendPair, _ concurrency: Int, directory: String, into accumulator: Accumulator) async throws {
        let config = BenchConfig.cluster(options, backend: backend, directory: directory)
        let lag = options.transport == .inprocess ? LagTracker() : nil
        let cluster = try await ClusterLauncher(options: options, registry: registry).launch(config, lag: lag)
        do {
            let leader = try await cluster.leader()
            _ = try await leader.replicate(.createTable(TableSchema(name: LoadGenerator.table, partitionKey: "k")))
            let load = LoadGenerator(
                concurrency: concurrency, valueSize: options.valueSize, distribution: options.keys,
                keySpace: options.keySpace, readRatio: options.readRatio, seed: options.seed)
            let findLeader: @Sendable () async throws -> any BenchNode = { try await cluster.leader() }
            if options.warmup > 0 {
                _ = try await load.run(leader: findLeader, ops: nil, duration: .seconds(options.warmup), recorder: nil)
            }
            let syncsBefore = cluster.syncCount
            let bytesBefore = cluster.bytesWritten()
            lag?.start()
            let outcome = try await load.run(
                leader: findLeader, ops: options.ops, duration: .seconds(options.duration), recorder: accumulator.latency)
            // Let the followers apply what the leader acknowledged before lag is read.
            let last = try await cluster.leader().status().commitIndex
            for node in cluster.nodes { try await waitUntilApplied(node, last) }
            lag?.stop()
            if let failure = cluster.failureReport {
                throw BenchError.failed("a node stopped during the measurement of \(backend) at concurrency \(concurrency): \(failure)")
            }
            let syncsAfter = cluster.syncCount
            let syncs = syncsBefore.flatMap { before in syncsAfter.map { $0 - before } }
            let bytesAfter = cluster.bytesWritten()
            let bytes = bytesBefore.flatMap { before in bytesAfter.map { $0 >= before ? $0 - before : 0 } }
            if let lag { lag.summarize(leader: try await cluster.leader().id, into: accumulator.lag) }
            await cluster.shutdown()
            let disk = cluster.dataDirectories.reduce(UInt64(0)) { $0 + DiskUsage.allocatedBytes(of: $1) }
            accumulator.totals.withLock { totals in
                totals.ops += outcome.ops
                totals.writes += outcome.writes
                totals.seconds += Double(outcome.elapsed.components.seconds) + Double(outcome.elapsed.components.attoseconds) / 1e18
                if let syncs { totals.syncs = (totals.syncs ?? 0) + syncs } else { totals.syncsMeasured = false }
                if let bytes { totals.bytesWritten = (totals.bytesWritten ?? 0) + bytes } else { totals.bytesMeasured = false }
                totals.diskBytes.append(disk)
            }
        } catch {
            // A node process that died explains most failures: say so while its log is still there.
            let failure = cluster.failureReport
            await cluster.shutdown()
            cleanUp(directory)
            if let failure { throw BenchError.failed("\(error); meanwhile \(failure)") }
            throw error
        }
        cleanUp(directory)
    }

    private func waitUntilApplied(_ node: any BenchNode, _ index: UInt64) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while try await node.status().appliedIndex < index {
            guard ContinuousClock.now < deadline else {
                throw BenchError.failed("node \(node.id) did not apply index \(index) within 30 s")
            }
            try await Task.sleep(for: .microseconds(100))
        }
    }

    private func cleanUp(_ directory: String) {
        try? FileSystem.removeTree(directory)
        for name in registry.names { try? registry.backend(named: name).forgetVolatileData(under: directory) }
    }

    private func result(_ backend: BackendPair, _ concurrency: Int, _ accumulator: Accumulator) throws -> BenchResult {
        let totals = accumulator.totals.withLock { $0 }
        guard let latency = accumulator.latency.writeLatencySummary() else {
            throw BenchError.failed("\(backend) at concurrency \(concurrency) completed no write")
        }
        let userBytes = UInt64(totals.writes) * UInt64(options.valueSize)
        return BenchResult(
            backend: ReportBackend(log: backend.log, state: backend.state), sync: options.sync, nodes: options.nodes,
            concurrency: concurrency, valueSize: options.valueSize, ops: totals.ops,
            throughputOpsS: totals.seconds > 0 ? Double(totals.ops) / totals.seconds : 0,
            writeLatencyUs: latency,
            replicationLagUs: accumulator.lag.replicationLagSummary(),
            recovery: RecoveryTimes.median(of: totals.recovery),
            diskBytes: totals.diskBytes.sorted()[totals.diskBytes.count / 2],
            writeAmplification: totals.bytesMeasured
                ? totals.bytesWritten.flatMap { ProcessIO.writeAmplification(diskBytesWritten: $0, userBytes: userBytes) } : nil,
            syncsPerWrite: totals.syncsMeasured && totals.writes > 0 ? totals.syncs.map { Double($0) / Double(totals.writes) } : nil)
    }

    private var effectiveConfig: RaftLabReport.JSONObject {
        var entries = options.effective
        if options.transport == .tcp {
            // Say why columns are n/a, in the report itself.
            entries.append((
                "not_measured_over_tcp",
                "replication_lag (needs in-process apply observers), syncs_per_write (the stores' counters live in the node "
                    + "processes), recovery snapshot_install (needs membership endpoints); restart and catch_up too when a "
                    + "store is not persistent (memory dies with its node process)"))
        }
        return RaftLabReport.JSONObject(entries.map { (key: $0.0, value: RaftLabReport.JSONValue.string($0.1)) })
    }
}

extension RecoveryTimes {
    /// The per-phase median over repetitions.
    static func median(of runs: [RecoveryTimes]) -> RecoveryTimes {
        func middle(_ values: [Double?]) -> Double? {
            let present = values.compactMap { $0 }.sorted()
            return present.isEmpty ? nil : present[present.count / 2]
        }
        return RecoveryTimes(
            entries: runs.first?.entries, restartUs: middle(runs.map(\.restartUs)), catchUpUs: middle(runs.map(\.catchUpUs)),
            snapshotInstallUs: middle(runs.map(\.snapshotInstallUs)), failoverUs: middle(runs.map(\.failoverUs)),
            migration: {
                let swaps = runs.compactMap(\.migration).sorted { $0.totalUs < $1.totalUs }
                return swaps.isEmpty ? nil : swaps[swaps.count / 2]
            }())
    }
}

