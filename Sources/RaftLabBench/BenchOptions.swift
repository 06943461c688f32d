import RaftLabAPI
import RaftLabBackends
import RaftLabHarness
import RaftLabNode
import StorageCore

/// A log backend and a state backend, compared as one row of a report.
public struct BackendPair: Sendable, Hashable, CustomStringConvertible {
    public var log: String
    public var state: String

    public init(log: String, state: String) {
        self.log = log
        self.state = state
    }

    public init(_ both: String) { self.init(log: both, state: both) }

    public var description: String { log == state ? log : "\(log)/\(state)" }
}

/// Security measured on a row: mutual TLS between nodes with HTTPS for the
/// benchmark's clients (`--tls`, over `--transport tcp`), and encryption at
/// rest of both stores (`--encryption`, AES-256-GCM). Certificates and the
/// key are made afresh in each cluster's data directory.
public struct Protection: Sendable, Hashable {
    public var tls = false
    public var encryption = false

    public init(tls: Bool = false, encryption: Bool = false) {
        self.tls = tls
        self.encryption = encryption
    }

    /// "tls", "aes-256-gcm", "tls+aes-256-gcm", or nil for none.
    public var label: String? {
        let parts = (tls ? ["tls"] : []) + (encryption ? ["aes-256-gcm"] : [])
        return parts.isEmpty ? nil : parts.joined(separator: "+")
    }

    /// The rows `--tls` and `--encryption` ask for: without protection, with
    /// each one alone, and with both, so each cost can be read off on its own.
    public static func variants(tls: Bool, encryption: Bool) -> [Protection] {
        [false, true].flatMap { t in [false, true].map { e in Protection(tls: t, encryption: e) } }
            .filter { (!$0.tls || tls) && (!$0.encryption || encryption) }
    }
}

/// How a run sends Raft messages between nodes.
public enum BenchTransport: String, Sendable, Hashable, CaseIterable {
    /// All nodes in this process; messages pass through memory.
    case inprocess
    /// One process per node on 127.0.0.1, messages over TCP.
    case tcp
}

/// Every option of `raftlab bench`, after flags, config file and defaults are merged.
///
/// The defaults are the default comparison: every backend, write-only runs
/// plus YCSB workloads A and C, one and 64 clients, each point on a fresh
/// cluster loaded with `records` items and measured long enough to include a
/// compaction of the Raft log (and, with the default 20,000 items, a LevelDB
/// memtable flush), then recovery once per backend.
public struct BenchOptions: Sendable, Hashable {
    public var backends: [BackendPair] = BenchOptions.all(in: .standard)
    public var nodes = 3
    /// Operations per measured point; when nil, `duration` bounds each point.
    public var ops: Int? = nil
    /// Seconds per measured point, at least (used when `ops` is nil).
    public var duration: Double = 10
    /// A window of a workload that writes continues past `duration` until the
    /// leader's log has been compacted once, for at most this many seconds in
    /// all (steady state); equal to `duration` turns the extension off.
    public var maxDuration: Double = 60
    public var concurrency: [Int] = [1, 64]
    public var valueSize = 100
    /// Workloads measured, each a section of the report.
    public var workloads: [BenchWorkload] = [.write, .a, .c]
    /// Whether a flag or config named the workloads. When none did, a run
    /// over TCP leaves out the read-only workload C: node processes are there
    /// to measure what replication costs (lag, syncs, crash failover), which
    /// a window without writes does not exercise, and its row would show n/a.
    public var workloadsNamed = false
    /// Key choice for every workload; nil for each workload's YCSB default
    /// (write-only: uniform, D: latest, the others: zipfian).
    public var distribution: KeyDistribution? = nil
    /// Items loaded into each fresh cluster before warm-up.
    public var records = 20_000
    /// Fraction of reads in the write-only workload (the YCSB workloads fix their own mix).
    public var readRatio = 0.0
    /// How reads are served: from the leader's applied state, or linearizable (ReadIndex).
    public var readConsistency: ReadConsistency = .local
    /// Open loop at this many requests per second; nil for closed loop.
    public var rate: Double? = nil
    public var sync = true
    /// State store sync modes compared side by side (a row per mode).
    public var stateSync: [StateSyncMode] = [.checkpoint]
    /// Seconds of unmeasured load before each point.
    public var warmup: Double = 1
    public var repetitions = 1
    public var seed: UInt64 = 1
    /// Entries written before the recovery measurements, for every backend
    /// without its own entry in `recoveryEntriesByBackend` (keyed "log/state"
    /// or, for a pair of one backend, its name).
    public var recoveryEntries = 5_000
    public var recoveryEntriesByBackend: [String: Int] = [:]
    /// With a target, the recovery phase also swaps each cluster's storage
    /// engine live, node by node, to these backends under load (`--migrate-to`).
    public var migrateTo: BackendPair?
    public var transport: BenchTransport = .inprocess
    /// Add rows with TLS on (`--tls`, needs `--transport tcp`) and with
    /// encryption at rest on (`--encryption`), beside the unprotected ones.
    public var tls = false
    public var encryption = false
    /// The raftlab binary `--transport tcp` runs each node with
    /// (`raftlab server --node-id N --config FILE`); nil for the executable
    /// of this process, which is right when `raftlab bench` itself runs.
    public var serverExecutable: String? = nil
    public var outputDirectory: String? = nil
    public var label = "default"
    /// Engine tuning, limits and (for --config) the cluster's storage settings.
    public var cluster: ClusterConfig = .standard

    public init() {}

    /// Recovery entries for `pair`.
    public func recoveryEntries(for pair: BackendPair) -> Int {
        recoveryEntriesByBackend[pair.description] ?? recoveryEntriesByBackend["\(pair.log)/\(pair.state)"]
            ?? recoveryEntries
    }

    /// The key space of the write-only workload when nothing is loaded.
    static let unloadedKeySpace: UInt64 = 100_000

    /// Checks ranges and names; the message names the flag.
    public func validate(registry: BackendRegistry) throws {
        func fail(_ message: String) -> BenchError { .invalidOption(message) }
        guard !backends.isEmpty else { throw fail("--backend names no backend") }
        for pair in backends {
            do {
                _ = try registry.backend(named: pair.log, providing: .log)
            } catch let error as StorageError {
                throw fail("\(pair.log == pair.state ? "--backend" : "--log-backend") \(pair.log): \(error.description)")
            }
            do {
                _ = try registry.backend(named: pair.state, providing: .state)
            } catch let error as StorageError {
                guard pair.log == pair.state else { throw fail("--state-backend \(pair.state): \(error.description)") }
                throw fail(
                    "--backend \(pair.state): \(error.description) (compare it as a log with "
                        + "--log-backend \(pair.log) --state-backend NAME, or --backend \(pair.log)/NAME)")
            }
        }
        guard [1, 3, 5, 7].contains(nodes) else { throw fail("--nodes must be 1, 3, 5 or 7 (got \(nodes))") }
        if let ops, ops < 1 { throw fail("--ops must be at least 1") }
        guard duration > 0, duration <= 3600 else { throw fail("--duration must be between 0 and 3600 seconds") }
        guard maxDuration >= duration, maxDuration <= 3600 else {
            throw fail("--max-duration must be between --duration (\(duration)) and 3600 seconds")
        }
        guard !concurrency.isEmpty, concurrency.allSatisfy({ (1...4096).contains($0) }) else {
            throw fail("--concurrency takes a list of client counts between 1 and 4096, e.g. 1,64")
        }
        guard (1...cluster.limits.maxItemBytes).contains(valueSize) else {
            throw fail("--value-size must be between 1 and \(cluster.limits.maxItemBytes) bytes")
        }
        guard !workloads.isEmpty else { throw fail("--workload names no workload") }
        guard (0...1).contains(readRatio) else { throw fail("--read-ratio must be between 0 and 1") }
        guard (0...100_000_000).contains(records) else { throw fail("--records must be between 0 and 100,000,000") }
        if records == 0, let workload = workloads.first(where: { $0 != .write }) {
            throw fail("--workload \(workload) reads loaded items: --records must be at least 1")
        }
        if let rate { guard rate > 0, rate <= 1_000_000 else { throw fail("--rate must be between 0 and 1,000,000 requests per second") } }
        guard !stateSync.isEmpty else { throw fail("--state-sync names no mode") }
        guard warmup >= 0 else { throw fail("--warmup must not be negative") }
        guard (1...100).contains(repetitions) else { throw fail("--repetitions must be between 1 and 100") }
        guard recoveryEntries >= 0, recoveryEntriesByBackend.values.allSatisfy({ $0 >= 0 }) else {
            throw fail("--recovery-entries must not be negative")
        }
        let names = Set(backends.flatMap { [$0.description, "\($0.log)/\($0.state)"] })
        for name in recoveryEntriesByBackend.keys where !names.contains(name) {
            throw fail("--recovery-entries names \(name), which this run does not measure")
        }
        if tls && transport != .tcp {
            throw fail("--tls measures mutual TLS between node processes and HTTPS for the clients: it needs --transport tcp")
        }
        if let migrateTo {
            for name in [migrateTo.log, migrateTo.state] where (try? registry.backend(named: name)) == nil {
                throw fail("--migrate-to names an unknown backend '\(name)'; known: \(registry.names.joined(separator: ", "))")
            }
            if recoveryEntries == 0 { throw fail("--migrate-to runs in the recovery phase: --recovery-entries must not be 0") }
            if transport == .tcp { throw fail("--migrate-to is measured in process only (--transport inprocess); over TCP use `raftlab migrate-cluster`") }
            if nodes < 3 { throw fail("--migrate-to needs --nodes 3 or more (the recovery phase measures followers)") }
        }
    }

    /// Every effective option, for the report's `config` section.
    public var effective: [(String, String)] {
        [
            ("backends", backends.map(\.description).joined(separator: ",")),
            ("nodes", String(nodes)),
            ("ops", ops.map(String.init) ?? "none"),
            ("duration_s", ops == nil ? String(duration) : "none"),
            ("max_duration_s", ops == nil ? String(maxDuration) : "none"),
            ("concurrency", concurrency.map(String.init).joined(separator: ",")),
            ("value_size", String(valueSize)),
            ("workloads", workloads.map(\.rawValue).joined(separator: ",")),
            ("distribution", distribution?.rawValue ?? "workload default"),
            ("records", String(records)),
            ("read_ratio", String(readRatio)),
            ("read_consistency", readConsistency.rawValue),
            ("load", rate == nil ? "closed" : "open"),
            ("rate", rate.map { String($0) } ?? "none"),
            ("sync", String(sync)),
            ("state_sync", stateSync.map(\.rawValue).joined(separator: ",")),
            ("warmup_s", String(warmup)),
            ("repetitions", String(repetitions)),
            ("seed", String(seed)),
            ("recovery_entries", ([String(recoveryEntries)]
                + recoveryEntriesByBackend.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }).joined(separator: ",")),
            ("migrate_to", migrateTo?.description ?? "none"),
            ("transport", transport.rawValue),
            ("tls", String(tls)),
            ("encryption", encryption ? "aes-256-gcm" : "none"),
            ("label", label),
            ("tick_ms", String(cluster.engine.tickMilliseconds)),
            ("election_ticks", String(cluster.engine.electionTicks)),
            ("heartbeat_ticks", String(cluster.engine.heartbeatTicks)),
            ("snapshot_entries", String(cluster.engine.snapshotEntries)),
            ("snapshot_keep_entries", String(cluster.engine.snapshotKeepEntries)),
            ("max_batch", String(cluster.engine.maxBatch)),
            ("max_inflight", String(cluster.engine.maxInflight)),
        ]
    }
}

extension BenchOptions {
    /// `leveldb` (both stores) or `lmdb/leveldb` (log/state).
    public static func migrationTarget(parsing text: String) throws -> BackendPair {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch parts.count {
        case 1 where !parts[0].isEmpty: return BackendPair(parts[0])
        case 2 where !parts[0].isEmpty && !parts[1].isEmpty: return BackendPair(log: parts[0], state: parts[1])
        default: throw BenchError.invalidOption("--migrate-to takes BACKEND or LOG/STATE, e.g. leveldb or lmdb/leveldb (got '\(text)')")
        }
    }
}
