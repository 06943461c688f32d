import ArgumentParser
import Foundation
import RaftLabBackends
import RaftLabBench
import RaftLabNode
import RaftLabReport
import StorageCore

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Compare storage engines under the same Raft engine and state machine, in one run.",
        discussion: """
            Each backend runs the same seeded workload on a fresh cluster in a fresh data directory; \
            backends are interleaved across repetitions. Measured: write latency (submit to commit \
            acknowledgment, p50/p90/p99/p99.9/max), throughput, replication lag, recovery (follower restart, \
            catch-up, snapshot install, leader failover), bytes on disk, write amplification and syncs per \
            write, next to the machine's fdatasync and loopback floors measured in the same run.

            Writes report.json, report.md, latency.csv and SVG charts to --out \
            (default results/<date>-<label>/).

            Examples:
              raftlab bench                                   # every backend (all), defaults
              raftlab bench --backend lmdb,rocksdb --concurrency 1,16,64 --duration 10
              raftlab bench --log-backend wal --state-backend lmdb
              raftlab bench --log-backend lmdb --state-backend memory
              raftlab bench --config examples/cluster.toml    # its [storage] and [bench] tables
            """)

    @Option(help: ArgumentHelp(
        "Backends to compare: a comma-separated list of names, log/state pairs and all (the default).",
        discussion: """
            A name is the backend of both stores: memory, flatfile, lmdb, leveldb, rocksdb or sqlite. \
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

    @Option(help: "Seconds per measured point when --ops is not given (default 4).")
    var duration: Double?

    @Option(help: "Clients in flight, a comma-separated list (default 1,64).")
    var concurrency: String?

    @Option(help: "Bytes per written value (default 100).")
    var valueSize: Int?

    @Option(help: "Key choice: sequential, uniform or zipfian (default uniform).")
    var keys: String?

    @Option(help: "Fraction of operations that are reads, 0 to 1 (default 0).")
    var readRatio: Double?

    @Flag(inversion: .prefixedNo, help: "fsync before acknowledging (default: on).")
    var sync: Bool?

    @Option(help: "Seconds of unmeasured load before each point (default 0.5).")
    var warmup: Double?

    @Option(help: "Rounds over all backends; results merge across rounds (default 1).")
    var repetitions: Int?

    @Option(help: "Seed of the workload and the engine's election timers (default 1).")
    var seed: UInt64?

    @Option(help: "Entries written before the recovery measurements (default 5000; 0 skips them).")
    var recoveryEntries: Int?

    @Option(help: ArgumentHelp(
        "In the recovery phase, also swap the storage engine live, node by node, to BACKEND (or LOG/STATE) under load: total time, longest write gap, write latency and bytes moved (in process only).",
        valueName: "backend"))
    var migrateTo: String?

    @Option(help: "inprocess (all nodes in this process) or tcp (one process per node on 127.0.0.1).")
    var transport: String?

    @Option(help: "Report directory (default results/<date>-<label>/).")
    var out: String?

    @Option(help: "A name for this run, shown in reports and comparisons (default 'default').")
    var label: String?

    func run() async throws {
        bootstrapLogging(level: .warning)
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
            }
            if let concurrency { options.concurrency = try BenchOptions.concurrency(parsing: concurrency) }
            if let valueSize { options.valueSize = valueSize }
            if let keys {
                guard let distribution = KeyDistribution(rawValue: keys) else {
                    throw BenchError.invalidOption("--keys must be sequential, uniform or zipfian (got '\(keys)')")
                }
                options.keys = distribution
            }
            if let readRatio { options.readRatio = readRatio }
            if let sync { options.sync = sync }
            if let warmup { options.warmup = warmup }
            if let repetitions { options.repetitions = repetitions }
            if let seed { options.seed = seed }
            if let recoveryEntries { options.recoveryEntries = recoveryEntries }
            if let migrateTo { options.migrateTo = try BenchOptions.migrationTarget(parsing: migrateTo) }
            if let transport {
                guard let kind = BenchTransport(rawValue: transport) else {
                    throw BenchError.invalidOption("--transport must be inprocess or tcp (got '\(transport)')")
                }
                options.transport = kind
            }
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
