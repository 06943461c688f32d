import Foundation
import NoSQL
import RaftLabHarness
import RaftLabNode
import RaftLabReport
import StorageCore
import Synchronization
import SyncObserver

#if canImport(Glibc)
import Glibc
#endif

/// `raftlab bench`: the same workloads on each backend, each point on a
/// fresh cluster in a fresh data directory, interleaved across repetitions
/// (A B C D A B C D ...) so that drift of the machine favours no one, with
/// the machine's own floors measured in the same run.
///
/// A point: launch a cluster, load `records` items (once per backend: the
/// loaded data directories are copied for its later points), warm up, then
/// measure a window, reading from every node its observed syncs and its
/// replication timeline. Recovery is measured once per backend and
/// repetition, on a cluster of its own.
public struct BenchRunner: Sendable {
    public let options: BenchOptions
    public let registry: BackendRegistry
    public let version: String
    private let progress: ProgressLine

    public init(options: BenchOptions, registry: BackendRegistry, version: String, progress: ProgressLine = .init()) {
        self.options = options
        self.registry = registry
        self.version = version
        self.progress = progress
    }

    public struct Outcome: Sendable {
        public var report: BenchReport
        public var directory: String
        public var files: [String]
    }

    /// One result row before repetitions are combined.
    struct Point: Sendable, Hashable {
        var series: BenchSeries
        var workload: BenchWorkload
        var concurrency: Int
    }

    /// What one repetition of a point measured.
    struct Sample: Sendable {
        var outcome: LoadGenerator.Outcome
        var write: LatencySummary?
        var read: PercentileSummary?
        var scan: PercentileSummary?
        var lag: LagSummary
        /// Observed on every node's data directory; nil when the observer is not active.
        var syncs: SyncCounts?
        var reportedSyncs: UInt64
        var bytesWritten: UInt64?
        var diskBytes: UInt64
        var logCompactions: Int

        var seconds: Double { outcome.elapsed.seconds }
        var throughput: Double { seconds > 0 ? Double(outcome.ops) / seconds : 0 }
        var syncsPerWrite: Double? {
            guard let syncs, outcome.writes > 0 else { return nil }
            return Double(syncs.durableSyncs) / Double(outcome.writes)
        }
        var reportedSyncsPerWrite: Double? {
            outcome.writes > 0 ? Double(reportedSyncs) / Double(outcome.writes) : nil
        }
    }

    public func run() async throws -> Outcome {
        try options.validate(registry: registry)
        let startedAt = Date()
        let root = NSTemporaryDirectory() + "raftlab-bench-\(UUID().uuidString)"
        try FileSystem.createDirectory(root, sync: false)
        // Node processes must not outlive an interrupted run, nor the data of any run.
        ChildProcesses.shared.removeOnSignal(root)
        defer {
            ChildProcesses.shared.forget(root)
            try? FileSystem.removeTree(root)
            for name in registry.names { try? registry.backend(named: name).forgetVolatileData(under: root) }
        }

        progress.start("measuring the machine's floors", total: 1)
        let floor = try FloorProbe.measure(directory: root)
        progress.finish()

        let allSeries = options.backends.flatMap { backend in
            options.stateSync.flatMap { mode in
                Protection.variants(tls: options.tls, encryption: options.encryption).map {
                    BenchSeries(backend: backend, stateSync: mode, protection: $0)
                }
            }
        }
        var samples: [Point: [Sample]] = [:]
        var recoveries: [BenchSeries: [RecoveryTimes]] = [:]
        var templates: [BenchSeries: String] = [:]
        let perSeries = options.workloads.count * options.concurrency.count + 1
        progress.start("benchmarking", total: options.repetitions * allSeries.count * perSeries)
        for repetition in 1...options.repetitions {
            for series in allSeries {
                for workload in options.workloads {
                    for concurrency in options.concurrency {
                        let point = Point(series: series, workload: workload, concurrency: concurrency)
                        let directory = "\(root)/r\(repetition)-\(series.slug)-\(workload)-c\(concurrency)"
                        let sample = try await explained("measuring \(series), workload \(workload), \(concurrency) clients") {
                            try await measure(point, directory: directory, root: root, templates: &templates)
                        }
                        samples[point, default: []].append(sample)
                        progress.advance()
                    }
                }
                let directory = "\(root)/r\(repetition)-\(series.slug)-recovery"
                let recovery = try await explained("measuring the recovery of \(series)") {
                    try await RecoveryProbe(
                        options: options, series: series, entries: options.recoveryEntries(for: series.backend),
                        directory: directory, registry: registry
                    ).run()
                }
                recoveries[series, default: []].append(recovery)
                cleanUp(directory)
                progress.advance()
            }
        }
        progress.finish()

        var results: [BenchResult] = []
        for series in allSeries {
            for workload in options.workloads {
                for concurrency in options.concurrency {
                    let point = Point(series: series, workload: workload, concurrency: concurrency)
                    results.append(try result(point, samples[point] ?? [], recovery: RecoveryTimes.median(of: recoveries[series] ?? [])))
                }
            }
        }
        let report = BenchReport(
            raftlabVersion: version, startedAt: BenchReport.timestamp(startedAt), machine: .current(),
            floor: floor, config: effectiveConfig, results: results, peakRSSBytes: Self.peakResidentBytes())
        let directory = options.outputDirectory ?? BenchReport.defaultOutputDirectory(label: options.label, date: startedAt)
        let files = try ReportWriter.write(report, to: directory, label: options.label)
        return Outcome(report: report, directory: directory, files: files)
    }

    /// Runs `body`; a failure becomes a `BenchError` that says what was being measured.
    private func explained<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as BenchError {
            if case .failed(let message) = error { throw BenchError.failed("\(what): \(message)") }
            throw error
        } catch {
            throw BenchError.failed("\(what): \(error)")
        }
    }

    // MARK: One point

    private func isPersistent(_ series: BenchSeries) -> Bool {
        [series.backend.log, series.backend.state].allSatisfy { (try? registry.backend(named: $0).isPersistent) ?? false }
    }

    /// Items the workload's keys range over.
    private func records(for workload: BenchWorkload) -> UInt64 {
        options.records > 0 ? UInt64(options.records) : (workload == .write ? BenchOptions.unloadedKeySpace : 1)
    }

    private func measure(
        _ point: Point, directory: String, root: String, templates: inout [BenchSeries: String]
    ) async throws -> Sample {
        let launcher = ClusterLauncher(options: options, registry: registry)
        let config = try BenchConfig.cluster(options, series: point.series, directory: directory)
        let reusable = isPersistent(point.series) && options.records > 0
        var loaded = false
        if reusable, let template = templates[point.series] {
            try copyNodeDirectories(from: template, to: directory)
            loaded = true
        }
        var cluster = try await launcher.launch(config)
        do {
            if !loaded {
                _ = try await cluster.leader().replicate(.createTable(LoadGenerator.schema))
                try await preload(cluster)
                if reusable {
                    // Keep the loaded data directories for this backend's later points.
                    try await cluster.quiesce()
                    await cluster.shutdown()
                    let template = "\(root)/loaded-\(point.series.slug)"
                    try copyNodeDirectories(from: directory, to: template)
                    templates[point.series] = template
                    cluster = try await launcher.launch(config)
                }
            }
            let sample = try await measureWindow(point, on: cluster)
            try await cluster.quiesce()
            await cluster.shutdown()
            var measured = sample
            measured.diskBytes = cluster.dataDirectories.reduce(UInt64(0)) { $0 + DiskUsage.allocatedBytes(of: $1) }
            cleanUp(directory)
            return measured
        } catch {
            // A node process that died explains most failures: say so while its log is still there.
            let failure = cluster.failureReport
            await cluster.shutdown()
            cleanUp(directory)
            if let failure { throw BenchError.failed("\(error); meanwhile \(failure)") }
            throw error
        }
    }

    /// Loads items 0..<records with many clients (group commit makes it quick).
    private func preload(_ cluster: any BenchCluster) async throws {
        guard options.records > 0 else { return }
        let load = LoadGenerator(
            concurrency: 64, valueSize: options.valueSize, workload: .write, distribution: .sequential, records: 0,
            seed: options.seed)
        _ = try await load.run(
            leader: { try await cluster.leader() }, ops: options.records,
            stop: .init(after: .seconds(3600), atMost: .seconds(3600)), recorders: nil)
    }

    private func measureWindow(_ point: Point, on cluster: any BenchCluster) async throws -> Sample {
        let inserts = InsertCounter(loaded: records(for: point.workload))
        let load = LoadGenerator(
            concurrency: point.concurrency, valueSize: options.valueSize, workload: point.workload,
            distribution: options.distribution, records: records(for: point.workload), readRatio: options.readRatio,
            readConsistency: options.readConsistency, seed: options.seed, rate: options.rate, inserts: inserts)
        let findLeader: @Sendable () async throws -> any BenchNode = { try await cluster.leader() }
        if options.warmup > 0 {
            let warmup = LoadGenerator(
                concurrency: point.concurrency, valueSize: options.valueSize, workload: point.workload,
                distribution: options.distribution, records: records(for: point.workload), readRatio: options.readRatio,
                readConsistency: options.readConsistency, seed: options.seed &+ 0x5EED, rate: options.rate, inserts: inserts)
            _ = try await warmup.run(
                leader: findLeader, ops: nil, stop: .init(after: .seconds(options.warmup), atMost: .seconds(options.warmup)),
                recorders: nil)
        }

        let nodes = cluster.nodes
        let leader = try await cluster.leader()
        var syncsBefore: [UInt64: NodeSyncReport] = [:]
        for node in nodes { syncsBefore[node.id] = try await node.syncs() }
        let bytesBefore = cluster.bytesWritten()
        let lag = LagCollector()
        try await lag.begin(nodes)
        let startStatus = try await leader.status()

        // Steady state: a window of a workload that writes lasts until the leader's log was compacted once.
        let writes = point.workload.mix(readRatio: options.readRatio).writes
        let extend = writes && options.maxDuration > options.duration
        let stop = LoadGenerator.Stop(
            after: .seconds(options.duration), atMost: .seconds(extend ? options.maxDuration : options.duration),
            ready: !extend)
        let compactions = Atomic<Int>(0)
        let monitor = Task {
            var firstIndex = startStatus.firstIndex
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                try? await lag.poll(nodes)
                if let status = try? await leader.status(), status.firstIndex > firstIndex {
                    firstIndex = status.firstIndex
                    compactions.add(1, ordering: .relaxed)
                    stop.markReady()
                }
            }
        }
        let recorders = LoadGenerator.Recorders()
        let outcome: LoadGenerator.Outcome
        do {
            outcome = try await load.run(leader: findLeader, ops: options.ops, stop: stop, recorders: recorders)
        } catch {
            monitor.cancel()
            throw error
        }
        monitor.cancel()
        await monitor.value

        // Let every node apply what the leader acknowledged before syncs and lag are read.
        let endLeader = try await cluster.leader()
        let last = try await endLeader.status().commitIndex
        for node in nodes { try await waitUntilApplied(node, last) }
        if let failure = cluster.failureReport {
            throw BenchError.failed("a node stopped during the measurement of \(point.series) at concurrency \(point.concurrency): \(failure)")
        }
        if let status = try? await endLeader.status(), status.firstIndex > startStatus.firstIndex, compactions.load(ordering: .relaxed) == 0 {
            compactions.add(1, ordering: .relaxed)
        }
        try await lag.poll(nodes)
        var observed: SyncCounts? = SyncCounts()
        var reported: UInt64 = 0
        for node in nodes {
            let after = try await node.syncs()
            let before = syncsBefore[node.id]
            reported += after.reported - min(after.reported, before?.reported ?? 0)
            if let now = after.observed, let then = before?.observed {
                observed = observed.map { $0 + now.since(then) }
            } else {
                observed = nil
            }
        }
        let bytesAfter = cluster.bytesWritten()
        let bytes = bytesBefore.flatMap { before in bytesAfter.map { $0 >= before ? $0 - before : 0 } }
        let lagRecorder = LatencyRecorder()
        if last > startStatus.commitIndex {
            lag.summarize(window: (startStatus.commitIndex + 1)...last, into: lagRecorder)
        }
        if lag.missed > 0 {
            throw BenchError.failed("replication timelines overflowed (\(lag.missed) events lost); the lag would be incomplete")
        }
        return Sample(
            outcome: outcome, write: recorders.write.writeLatencySummary(), read: recorders.read.percentileSummary(),
            scan: recorders.scan.percentileSummary(), lag: lagRecorder.replicationLagSummary(), syncs: observed,
            reportedSyncs: reported, bytesWritten: bytes, diskBytes: 0, logCompactions: compactions.load(ordering: .relaxed))
    }

    private func waitUntilApplied(_ node: any BenchNode, _ index: UInt64) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while try await node.status().appliedIndex < index {
            guard ContinuousClock.now < deadline else {
                throw BenchError.failed("node \(node.id) did not apply index \(index) within 60 s")
            }
            try await Task.sleep(for: .microseconds(200))
        }
    }

    /// Copies the `node-N` directories of a stopped cluster (its data, not
    /// the TCP run's config and logs).
    private func copyNodeDirectories(from source: String, to destination: String) throws {
        try FileSystem.createDirectory(destination, sync: false)
        for name in try FileSystem.listDirectory(source) where name.hasPrefix("node-") {
            do {
                try FileManager.default.copyItem(atPath: "\(source)/\(name)", toPath: "\(destination)/\(name)")
            } catch {
                throw BenchError.failed("cannot copy the loaded data directory \(source)/\(name): \(error)")
            }
        }
    }

    private func cleanUp(_ directory: String) {
        try? FileSystem.removeTree(directory)
        for name in registry.names { try? registry.backend(named: name).forgetVolatileData(under: directory) }
    }

    // MARK: Results

    /// The median over repetitions of every measured value, with the spread
    /// of the main ones; counts (operations, errors, timeouts) are totals.
    private func result(_ point: Point, _ samples: [Sample], recovery: RecoveryTimes) throws -> BenchResult {
        let series = point.series
        let workloadWrites = point.workload.mix(readRatio: options.readRatio).writes
        let writeSummaries = samples.compactMap(\.write)
        if workloadWrites && writeSummaries.count < samples.count {
            throw BenchError.failed("\(series) at concurrency \(point.concurrency) (workload \(point.workload)) completed no write")
        }
        func total(_ value: (LoadGenerator.Outcome) -> Int) -> Int { samples.reduce(0) { $0 + value($1.outcome) } }
        let write = writeSummaries.isEmpty ? nil : LatencySummary(
            p50: median(writeSummaries.map(\.p50)), p90: median(writeSummaries.map(\.p90)),
            p99: median(writeSummaries.map(\.p99)), p999: median(writeSummaries.map(\.p999)),
            max: median(writeSummaries.map(\.max)))
        func percentiles(_ all: [PercentileSummary]) -> PercentileSummary? {
            all.isEmpty ? nil : PercentileSummary(p50: median(all.map(\.p50)), p99: median(all.map(\.p99)), max: median(all.map(\.max)))
        }
        let lags = samples.map(\.lag)
        let userBytes = samples.map { UInt64($0.outcome.writes) * UInt64(options.valueSize) }
        let amplifications = zip(samples, userBytes).map { sample, user in
            sample.bytesWritten.flatMap { ProcessIO.writeAmplification(diskBytesWritten: $0, userBytes: user) }
        }
        let observed = samples.allSatisfy { $0.syncs != nil } ? samples.compactMap(\.syncs).reduce(SyncCounts(), +) : nil
        var result = BenchResult(
            backend: ReportBackend(log: series.backend.log, state: series.backend.state, protection: series.protection.label),
            sync: options.sync,
            nodes: options.nodes, concurrency: point.concurrency, valueSize: options.valueSize, ops: total(\.ops),
            throughputOpsS: median(samples.map(\.throughput)), writeLatencyUs: write,
            replicationLagUs: LagSummary(
                p50: optionalMedian(lags.map(\.p50)), p99: optionalMedian(lags.map(\.p99)), max: optionalMedian(lags.map(\.max))),
            recovery: recovery,
            diskBytes: UInt64(median(samples.map { Double($0.diskBytes) })),
            writeAmplification: amplifications.contains(nil) ? nil : optionalMedian(amplifications),
            syncsPerWrite: optionalMedian(samples.map(\.syncsPerWrite)),
            workload: point.workload.rawValue,
            distribution: (options.distribution ?? point.workload.defaultDistribution).rawValue,
            load: options.rate == nil ? "closed" : "open", targetRate: options.rate,
            errors: total(\.errors), timeouts: total(\.timeouts),
            readLatencyUs: percentiles(samples.compactMap(\.read)), scanLatencyUs: percentiles(samples.compactMap(\.scan)),
            syncsPerWriteReported: optionalMedian(samples.map(\.reportedSyncsPerWrite)))
        result.stateSync = series.stateSync.rawValue
        let mix = point.workload.mix(readRatio: options.readRatio)
        result.readConsistency = mix.read + mix.scan + mix.readModifyWrite > 0 ? options.readConsistency.rawValue : nil
        result.persistent = isPersistent(series)
        result.syncCalls = observed.map {
            SyncCallCounts(fsync: $0.fsync, fdatasync: $0.fdatasync, msync: $0.msync, syncFileRange: $0.syncFileRange, syncWrites: $0.syncWrites)
        }
        result.writes = total(\.writes)
        result.reads = total(\.reads)
        result.scans = total(\.scans)
        result.measuredS = median(samples.map(\.seconds))
        result.logCompactions = samples.map(\.logCompactions).min()
        result.repetitions = samples.count
        result.spread = Spread(
            throughputOpsS: MinMax(samples.map(\.throughput)), writeP50Us: MinMax(samples.map { $0.write?.p50 }),
            writeP99Us: MinMax(samples.map { $0.write?.p99 }), readP50Us: MinMax(samples.map { $0.read?.p50 }),
            readP99Us: MinMax(samples.map { $0.read?.p99 }), lagP99Us: MinMax(lags.map(\.p99)),
            syncsPerWrite: MinMax(samples.map(\.syncsPerWrite)))
        return result
    }

    private var effectiveConfig: ReportConfig {
        var entries = options.effective
        if !SyncObserver.isActive {
            entries.append(("syncs_observed", "no: this executable does not export the interposed sync calls"))
        }
        return ReportConfig(entries.map { (key: $0.0, value: JSONValue.string($0.1)) })
    }

    /// The benchmark process's peak resident set (every in-process node included).
    static func peakResidentBytes() -> UInt64? {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return nil }
        return UInt64(usage.ru_maxrss) * 1024  // kilobytes on Linux
    }
}

/// The middle value (the mean of the two middle ones for an even count); 0 for none.
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// The median of the values that are present; nil when none is.
func optionalMedian(_ values: [Double?]) -> Double? {
    let present = values.compactMap { $0 }
    return present.isEmpty ? nil : median(present)
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

extension RecoveryTimes {
    /// The per-phase median over repetitions.
    static func median(of runs: [RecoveryTimes]) -> RecoveryTimes {
        RecoveryTimes(
            entries: runs.first?.entries, restartUs: optionalMedian(runs.map(\.restartUs)),
            catchUpUs: optionalMedian(runs.map(\.catchUpUs)), snapshotInstallUs: optionalMedian(runs.map(\.snapshotInstallUs)),
            failoverUs: optionalMedian(runs.map(\.failoverUs)), restartPath: runs.first?.restartPath,
            catchUpEntries: runs.first?.catchUpEntries,
            migration: {
                let swaps = runs.compactMap(\.migration).sorted { $0.totalUs < $1.totalUs }
                return swaps.isEmpty ? nil : swaps[swaps.count / 2]
            }())
    }
}
