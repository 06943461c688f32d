import ArgumentParser
import Logging
import Foundation
import RaftLabBackends
import RaftLabBench
import RaftLabHarness
import RaftLabNode
import RaftLabReport
import StorageCore

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Compare storage engines under the same Raft engine and state machine, in one run.",
        discussion: """
            Each backend runs the same seeded workloads, each point on a fresh cluster loaded with --records \
            items (backends interleaved across repetitions). Measured per point: throughput; write, read and \
            scan latency from a request's first attempt (open loop: its scheduled start) to its final answer, \
            retries included, with failed attempts counted as errors and timeouts; replication lag (leader \
            commit to follower apply); syncs per write observed at the system call; bytes on disk and write \
            amplification. Once per backend: recovery (follower restart, catch-up, snapshot install, \
            client-observed unavailability after the leader's crash). Next to the machine's floors measured \
            in the same run: one fdatasync, a quorum of three appenders on the same disk, a loopback round trip.

            The default is the default comparison: every backend, write-only runs and YCSB workloads A and C, \
            1 and 64 clients, closed loop, each window at least 10 s and until the Raft log was compacted once. \
            With --transport tcp and no --workload, the read-only workload C is left out (no writes: nothing \
            replicated to measure).

            Writes report.json, report.md, latency.csv and SVG charts to --out \
            (default results/<date>-<label>/).

            Examples:
              raftlab bench                                   # the default comparison
              raftlab bench --backend lmdb,leveldb --workload a --distribution zipfian --records 100000
              raftlab bench --rate 2000 --backend leveldb     # open loop, 2000 requests/s
              raftlab bench --transport tcp --backend lmdb    # one process per node
              raftlab bench --backend leveldb --state-sync checkpoint,always
              raftlab bench --backend lmdb,rocksdb --concurrency 1,16,64 --duration 10
              raftlab bench --log-backend wal --state-backend lmdb
              raftlab bench --log-backend lmdb --state-backend memory
              raftlab bench --repetitions 3 --recovery-entries 5000,leveldb=1000000
              raftlab bench --config examples/cluster.toml    # its [storage] and [bench] tables
              raftlab bench --transport tcp --tls --encryption --backend lmdb   # what each protection costs
            """)

    @Option(help: ArgumentHelp(
        "Backends to compare: a comma-separated list of names, log/state pairs and all (the default).",
        discussion: """
            A name is the backend of both stores: \(BackendNames.bothStores). \
            A pair such as wal/rocksdb names the log backend, then the state backend; wal provides only \
            a log store, so it appears in pairs only. all runs every backend that provides both stores, \
            then wal/lmdb. Example: --backend all,wal/rocksdb,wal/leveldb
            """))
    var backend: String?

    @Option(help: "Backend for the Raft log (with --state-backend, compares one mixed pair): any backend, wal included.")
    var logBackend: String?

    @Option(help: "Backend for the state store (with --log-backend): any backend but wal, which stores logs only.")
    var stateBackend: String?

    @Option(help: "A cluster TOML config: its [storage], [engine] and [bench] tables set the run.")
    var config: String?

    @Option(help: "Cluster size: 1, 3, 5 or 7 (default 3).")
    var nodes: Int?

    @Option(help: "Operations per measured point (instead of --duration).")
    var ops: Int?

    @Option(help: "Seconds per measured point, at least (default 10).")
    var duration: Double?

    @Option(help: "Longest window, in seconds: a writing workload's window runs past --duration until the leader's log was compacted once (default 60; equal to --duration turns this off).")
    var maxDuration: Double?

    @Option(help: "Clients in flight, a comma-separated list (default 1,64). With --rate, the most requests in flight.")
    var concurrency: String?

    @Option(help: "Workloads: write (write-only) and YCSB a-f, comma-separated, or all (default write,a,c; over TCP write,a).")
    var workload: String?

    @Option(help: "Key choice: uniform, zipfian (θ 0.99), latest or sequential (default: each workload's YCSB default).")
    var distribution: String?

    @Option(help: .hidden)
    var keys: String?

    @Option(help: "Items loaded into each cluster before it is measured (default 20000).")
    var records: Int?

    @Option(help: "Open loop: requests per second, scheduled whatever the answers; latency from each request's scheduled start (default: closed loop).")
    var rate: Double?

    @Option(help: "Reads: local (the leader's applied state) or strong (linearizable ReadIndex) (default local).")
    var readConsistency: String?

    @Option(help: "Bytes per written value (default 100).")
    var valueSize: Int?

    @Option(help: "Fraction of reads in the write-only workload, 0 to 1 (default 0).")
    var readRatio: Double?

    @Flag(inversion: .prefixedNo, help: "fsync before acknowledging (default: on).")
    var sync: Bool?

    @Option(help: "When the state store syncs: checkpoint, always, or checkpoint,always to compare both (default: the config's, checkpoint).")
    var stateSync: String?

    @Option(help: "Seconds of unmeasured load before each point (default 1).")
    var warmup: Double?

    @Option(help: "Rounds over all backends; each value is the median, with the min-max spread (default 1).")
    var repetitions: Int?

    @Option(help: "Seed of the workload and the engine's election timers (default 1).")
    var seed: UInt64?

    @Option(help: "Entries written before the recovery measurements (default 5000; 0 skips them), optionally per backend: 5000,leveldb=1000000.")
    var recoveryEntries: String?

    @Option(help: ArgumentHelp(
        "In the recovery phase, also swap the storage engine live, node by node, to BACKEND (or LOG/STATE) under load: total time, longest write gap, write latency and bytes moved (in process only).",
        valueName: "backend"))
    var migrateTo: String?

    @Option(help: "inprocess (all nodes in this process) or tcp (one process per node on 127.0.0.1).")
    var transport: String?

    @Flag(help: "Also measure every backend with mutual TLS between nodes and HTTPS for the clients (needs --transport tcp).")
    var tls = false

    @Flag(help: "Also measure every backend with encryption at rest (AES-256-GCM of log payloads and state values).")
    var encryption = false

    @Option(help: "Report directory (default results/<date>-<label>/).")
    var out: String?

    @Option(help: "A name for this run, shown in reports and comparisons (default 'default').")
    var label: String?

    func run() async throws {
        bootstrapLogging(level: ProcessInfo.processInfo.environment["RAFTLAB_BENCH_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .warning)
        var options = try makeOptions()
        if options.transport == .tcp {
            options.cluster.engine.tickMilliseconds = max(options.cluster.engine.tickMilliseconds, 10)
        }
        let runner = BenchRunner(options: options, registry: .standard, version: RaftLabVersion.current)
        let outcome: BenchRunner.Outcome
        do {
            outcome = try await runner.run()
        } catch let error as BenchError {
            throw exitWithMessage(error.description, code: 1)
        }
        print(try String(contentsOfFile: outcome.directory + "/report.md", encoding: .utf8))
        print("report written to \(outcome.directory)")
    }

    func makeOptions() throws -> BenchOptions {
        var options = BenchOptions()
        do {
            if let config {
                try options.apply(config: try ClusterConfig.load(path: config))
            }
            if let backend {
                options.backends = try BenchOptions.backends(parsing: backend, registry: .standard)
            }
            switch (logBackend, stateBackend) {
            case (nil, nil): break
            case let (log?, state?): options.backends = [BackendPair(log: log, state: state)]
            case let (log?, nil): options.backends = [BackendPair(log: log, state: log)]
            case let (nil, state?): options.backends = [BackendPair(log: state, state: state)]
            }
            if let nodes { options.nodes = nodes }
            if let ops { options.ops = ops }
            if let duration {
                options.duration = duration
                if ops == nil { options.ops = nil }
                if maxDuration == nil { options.maxDuration = max(options.maxDuration, duration) }
            }
            if let maxDuration { options.maxDuration = maxDuration }
            if let concurrency { options.concurrency = try BenchOptions.concurrency(parsing: concurrency) }
            if let workload {
                options.workloads = try BenchOptions.workloads(parsing: workload)
                options.workloadsNamed = true
            }
            if let keys { options.distribution = try BenchOptions.distribution(parsing: keys) }
            if let distribution { options.distribution = try BenchOptions.distribution(parsing: distribution) }
            if let records { options.records = records }
            if let rate { options.rate = rate }
            if let readConsistency { options.readConsistency = try BenchOptions.readConsistency(parsing: readConsistency) }
            if let valueSize { options.valueSize = valueSize }
            if let readRatio { options.readRatio = readRatio }
            if let sync { options.sync = sync }
            if let stateSync { options.stateSync = try BenchOptions.stateSync(parsing: stateSync) }
            if let warmup { options.warmup = warmup }
            if let repetitions { options.repetitions = repetitions }
            if let seed { options.seed = seed }
            if let recoveryEntries {
                let parsed = try BenchOptions.recoveryEntries(parsing: recoveryEntries)
                if let count = parsed.default { options.recoveryEntries = count }
                options.recoveryEntriesByBackend = parsed.byBackend
            }
            if let migrateTo { options.migrateTo = try BenchOptions.migrationTarget(parsing: migrateTo) }
            if let transport {
                guard let kind = BenchTransport(rawValue: transport) else {
                    throw BenchError.invalidOption("--transport must be inprocess or tcp (got '\(transport)')")
                }
                options.transport = kind
            }
            if options.transport == .tcp, !options.workloadsNamed { options.workloads.removeAll { $0 == .c } }
            if tls { options.tls = true }
            if encryption { options.encryption = true }
            if let out { options.outputDirectory = out }
            if let label { options.label = label }
            try options.validate(registry: .standard)
        } catch let error as BenchError {
            throw ValidationError(error.description)
        } catch let error as ConfigError {
            throw ValidationError(error.description)
        }
        return options
    }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Compare saved benchmark runs side by side, without re-running them.",
        discussion: """
            Each argument is a report directory written by `raftlab bench` (or its report.json). \
            The last run is compared with the first.

            Example:
              raftlab report results/reference results/2026-11-22-after-change
            """)

    @Argument(help: "Report directories (or report.json files), oldest first.")
    var runs: [String]

    func validate() throws {
        guard !runs.isEmpty else { throw ValidationError("name at least one report directory") }
    }

    func run() throws {
        do {
            print(try ReportComparison.load(runs).render())
        } catch let error as ReportFileError {
            throw exitWithMessage(error.description, code: 1)
        }
    }
}

/// Prints `message` to standard error and returns the exit code to throw,
/// so a failure reads as one sentence instead of an error dump.
func exitWithMessage(_ message: String, code: Int32) -> ExitCode {
    FileHandle.standardError.write(Data(("error: " + message + "\n").utf8))
    return ExitCode(code)
}
