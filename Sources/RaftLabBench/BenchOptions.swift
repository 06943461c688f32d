import RaftLabBackends
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

/// How a run sends Raft messages between nodes.
public enum BenchTransport: String, Sendable, Hashable, CaseIterable {
    /// All nodes in this process; messages pass through memory.
    case inprocess
    /// One process per node on 127.0.0.1, messages over TCP.
    case tcp
}

/// Every option of `raftlab bench`, after flags, config file and defaults are merged.
/// The defaults compare every backend (`all`) in about three minutes on two cores.
public struct BenchOptions: Sendable, Hashable {
    public var backends: [BackendPair] = BenchOptions.all(in: .standard)
    public var nodes = 3
    /// Operations per measured point; when nil, `duration` bounds each point.
    public var ops: Int? = nil
    /// Seconds per measured point (used when `ops` is nil).
    public var duration: Double = 4
    public var concurrency: [Int] = [1, 64]
    public var valueSize = 100
    public var keys: KeyDistribution = .uniform
    public var keySpace: UInt64 = 100_000
    public var readRatio = 0.0
    public var sync = true
    /// Seconds of unmeasured load before each point.
    public var warmup: Double = 0.5
    public var repetitions = 1
    public var seed: UInt64 = 1
    public var recoveryEntries = 5_000
    /// With a target, the recovery phase also swaps each cluster's storage
    /// engine live, node by node, to these backends under load (`--migrate-to`).
    public var migrateTo: BackendPair?
    public var transport: BenchTransport = .inprocess
    /// The raftlab binary `--transport tcp` runs each node with
    /// (`raftlab server --node-id N --config FILE`); nil for the executable
    /// of this process, which is right when `raftlab bench` itself runs.
    public var serverExecutable: String? = nil
    public var outputDirectory: String? = nil
    public var label = "default"
    /// Engine tuning, limits and (for --config) the cluster's storage settings.
    public var cluster: ClusterConfig = .standard

    public init() {}

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
        guard !concurrency.isEmpty, concurrency.allSatisfy({ (1...4096).contains($0) }) else {
            throw fail("--concurrency takes a list of client counts between 1 and 4096, e.g. 1,64")
        }
        guard (1...cluster.limits.maxItemBytes).contains(valueSize) else {
            throw fail("--value-size must be between 1 and \(cluster.limits.maxItemBytes) bytes")
        }
        guard (0...1).contains(readRatio) else { throw fail("--read-ratio must be between 0 and 1") }
        guard warmup >= 0 else { throw fail("--warmup must not be negative") }
        guard (1...100).contains(repetitions) else { throw fail("--repetitions must be between 1 and 100") }
        guard recoveryEntries >= 0 else { throw fail("--recovery-entries must not be negative") }
        if let migrateTo {
            for name in [migrateTo.log, migrateTo.state] where (try? registry.backend(named: name)) == nil {
                throw fail("--migrate-to names an unknown backend '\(name)'; known: \(registry.names.joined(separator: ", "))")
            }
            if recoveryEntries == 0 { throw fail("--migrate-to runs in the recovery phase: --recovery-entries must not be 0") }
            if transport == .tcp { throw fail("--migrate-to is measured in process only (--transport inprocess); over TCP use `raftlab migrate-cluster`") }
            if nodes < 3 { throw fail("--migrate-to needs --nodes 3 or more (the recovery phase measures followers)") }
        }
        guard keySpace >= 1 else { throw fail("the key space must hold at least one key") }
    }

    /// Every effective option, for the report's `config` section.
    public var effective: [(String, String)] {
        [
            ("backends", backends.map(\.description).joined(separator: ",")),
            ("nodes", String(nodes)),
            ("ops", ops.map(String.init) ?? "none"),
            ("duration_s", ops == nil ? String(duration) : "none"),
            ("concurrency", concurrency.map(String.init).joined(separator: ",")),
            ("value_size", String(valueSize)),
            ("keys", keys.rawValue),
            ("key_space", String(keySpace)),
            ("read_ratio", String(readRatio)),
            ("sync", String(sync)),
            ("warmup_s", String(warmup)),
            ("repetitions", String(repetitions)),
            ("seed", String(seed)),
            ("recovery_entries", String(recoveryEntries)),
            ("migrate_to", migrateTo?.description ?? "none"),
            ("transport", transport.rawValue),
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

public enum BenchError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidOption(String)
    case failed(String)

    public var description: String {
        switch self {
        case .invalidOption(let message): "invalid option: \(message)"
        case .failed(let message): "benchmark failed: \(message)"
        }
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
