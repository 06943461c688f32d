import StorageCore

/// One measured configuration: one backend pair at one concurrency.
///
/// Values that a run may legitimately not have (a phase that was not run, a
/// counter the platform does not offer) are optionals and are written as
/// `null`, never omitted, so every report has the same key set and tools
/// reading it need no special cases.
public struct BenchResult: Codable, Sendable, Equatable {
    public var backend: ReportBackend
    public var sync: Bool
    public var nodes: Int
    public var concurrency: Int
    public var valueSize: Int
    /// Acknowledged writes measured.
    public var ops: Int
    public var throughputOpsS: Double
    /// Client-observed submit → commit acknowledgement.
    public var writeLatencyUs: LatencySummary
    /// Per write, leader commit → each follower's apply of the same index.
    public var replicationLagUs: LagSummary
    public var recovery: RecoveryTimes
    /// Bytes the data directories occupy at the end of the run.
    public var diskBytes: UInt64?
    /// Bytes the process(es) wrote to disk (/proc/<pid>/io) per byte of user data.
    public var writeAmplification: Double?
    /// Syncs the stores counted, per acknowledged write.
    public var syncsPerWrite: Double?

    public init(
        backend: ReportBackend, sync: Bool, nodes: Int, concurrency: Int, valueSize: Int, ops: Int,
        throughputOpsS: Double, writeLatencyUs: LatencySummary,
        replicationLagUs: LagSummary = LagSummary(), recovery: RecoveryTimes = RecoveryTimes(),
        diskBytes: UInt64? = nil, writeAmplification: Double? = nil, syncsPerWrite: Double? = nil
    ) {
        self.backend = backend
        self.sync = sync
        self.nodes = nodes
        self.concurrency = concurrency
        self.valueSize = valueSize
        self.ops = ops
        self.throughputOpsS = throughputOpsS
        self.writeLatencyUs = writeLatencyUs
        self.replicationLagUs = replicationLagUs
        self.recovery = recovery
        self.diskBytes = diskBytes
        self.writeAmplification = writeAmplification
        self.syncsPerWrite = syncsPerWrite
    }

    enum CodingKeys: String, CodingKey {
        case backend, sync, nodes, concurrency
        case valueSize = "value_size"
        case ops
        case throughputOpsS = "throughput_ops_s"
        case writeLatencyUs = "write_latency_us"
        case replicationLagUs = "replication_lag_us"
        case recovery
        case diskBytes = "disk_bytes"
        case writeAmplification = "write_amplification"
        case syncsPerWrite = "syncs_per_write"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        backend = try c.decode(ReportBackend.self, forKey: .backend)
        sync = try c.decode(Bool.self, forKey: .sync)
        nodes = try c.decode(Int.self, forKey: .nodes)
        concurrency = try c.decode(Int.self, forKey: .concurrency)
        valueSize = try c.decode(Int.self, forKey: .valueSize)
        ops = try c.decode(Int.self, forKey: .ops)
        throughputOpsS = try c.decode(Double.self, forKey: .throughputOpsS)
        writeLatencyUs = try c.decode(LatencySummary.self, forKey: .writeLatencyUs)
        replicationLagUs = try c.decodeIfPresent(LagSummary.self, forKey: .replicationLagUs) ?? LagSummary()
        recovery = try c.decodeIfPresent(RecoveryTimes.self, forKey: .recovery) ?? RecoveryTimes()
        diskBytes = try c.decodeIfPresent(UInt64.self, forKey: .diskBytes)
        writeAmplification = try c.decodeIfPresent(Double.self, forKey: .writeAmplification)
        syncsPerWrite = try c.decodeIfPresent(Double.self, forKey: .syncsPerWrite)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(backend, forKey: .backend)
        try c.encode(sync, forKey: .sync)
        try c.encode(nodes, forKey: .nodes)
        try c.encode(concurrency, forKey: .concurrency)
        try c.encode(valueSize, forKey: .valueSize)
        try c.encode(ops, forKey: .ops)
        try c.encode(throughputOpsS, forKey: .throughputOpsS)
        try c.encode(writeLatencyUs, forKey: .writeLatencyUs)
        try c.encode(replicationLagUs, forKey: .replicationLagUs)
        try c.encode(recovery, forKey: .recovery)
        // encode(Optional) writes null for nil: the key stays in the file.
        try c.encode(diskBytes, forKey: .diskBytes)
        try c.encode(writeAmplification, forKey: .writeAmplification)
        try c.encode(syncsPerWrite, forKey: .syncsPerWrite)
    }
}

/// The log and state backends of a node, which may differ ("lmdb/leveldb"),
/// as `report.json` names them. Named apart from the runner's own backend
/// pair type so a module importing both never sees an ambiguous name.
public struct ReportBackend: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var log: String
    public var state: String

    public init(log: String, state: String) {
        self.log = log
        self.state = state
    }

    /// The same backend for the log and the state.
    public init(_ both: String) { self.init(log: both, state: both) }

    /// The backends a node's storage config names.
    public init(_ storage: StorageConfig) { self.init(log: storage.logBackend, state: storage.stateBackend) }

    /// "log/state", how reports name a backend pair.
    public var description: String { "\(log)/\(state)" }

    public static func < (a: Self, b: Self) -> Bool { (a.log, a.state) < (b.log, b.state) }

    enum CodingKeys: String, CodingKey { case log, state }
}

/// Write latency percentiles in microseconds. Always present: a result with
/// no acknowledged write is a failed run, not a result.
public struct LatencySummary: Codable, Sendable, Equatable {
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var p999: Double
    public var max: Double

    public init(p50: Double, p90: Double, p99: Double, p999: Double, max: Double) {
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.p999 = p999
        self.max = max
    }

    enum CodingKeys: String, CodingKey { case p50, p90, p99, p999, max }
}

/// Replication lag percentiles in microseconds; nil when nothing was
/// replicated (a one-node cluster) so a report never shows a fake zero lag.
public struct LagSummary: Codable, Sendable, Equatable {
    public var p50: Double?
    public var p99: Double?
    public var max: Double?

    public init(p50: Double? = nil, p99: Double? = nil, max: Double? = nil) {
        self.p50 = p50
        self.p99 = p99
        self.max = max
    }

    enum CodingKeys: String, CodingKey { case p50, p99, max }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        p50 = try c.decodeIfPresent(Double.self, forKey: .p50)
        p99 = try c.decodeIfPresent(Double.self, forKey: .p99)
        max = try c.decodeIfPresent(Double.self, forKey: .max)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(p50, forKey: .p50)
        try c.encode(p99, forKey: .p99)
        try c.encode(max, forKey: .max)
    }
}

/// Recovery times in microseconds; each nil when its phase was not run.
public struct RecoveryTimes: Codable, Sendable, Equatable {
    /// N: entries written before the restart / while the follower was down.
    public var entries: Int?
    /// (a) A follower restarted from its data directory until it applied the log.
    public var restartUs: Double?
    /// (b) A follower that was down while N writes happened, until caught up.
    public var catchUpUs: Double?
    /// (c) A new empty node until caught up through InstallSnapshot.
    public var snapshotInstallUs: Double?
    /// (d) Leader killed until the next committed write.
    public var failoverUs: Double?
    /// (e) A live swap of every node's storage engine under load (`--migrate-to`).
    public var migration: MigrationFigures?

    public init(
        entries: Int? = nil, restartUs: Double? = nil, catchUpUs: Double? = nil,
        snapshotInstallUs: Double? = nil, failoverUs: Double? = nil, migration: MigrationFigures? = nil
    ) {
        self.migration = migration
        self.entries = entries
        self.restartUs = restartUs
        self.catchUpUs = catchUpUs
        self.snapshotInstallUs = snapshotInstallUs
        self.failoverUs = failoverUs
    }

    enum CodingKeys: String, CodingKey {
        case entries
        case restartUs = "restart_us"
        case catchUpUs = "catch_up_us"
        case snapshotInstallUs = "snapshot_install_us"
        case failoverUs = "failover_us"
        case migration
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        entries = try c.decodeIfPresent(Int.self, forKey: .entries)
        restartUs = try c.decodeIfPresent(Double.self, forKey: .restartUs)
        catchUpUs = try c.decodeIfPresent(Double.self, forKey: .catchUpUs)
        snapshotInstallUs = try c.decodeIfPresent(Double.self, forKey: .snapshotInstallUs)
        failoverUs = try c.decodeIfPresent(Double.self, forKey: .failoverUs)
        migration = try c.decodeIfPresent(MigrationFigures.self, forKey: .migration)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(entries, forKey: .entries)
        try c.encode(restartUs, forKey: .restartUs)
        try c.encode(catchUpUs, forKey: .catchUpUs)
        try c.encode(snapshotInstallUs, forKey: .snapshotInstallUs)
        try c.encode(failoverUs, forKey: .failoverUs)
        try c.encodeIfPresent(migration, forKey: .migration)
    }
}

/// A live engine swap measured under load: every node replaced, one at a
/// time, by a node on the target backends while clients keep writing.
public struct MigrationFigures: Codable, Sendable, Equatable {
    /// The backends moved to.
    public var to: ReportBackend
    /// Nodes replaced.
    public var nodesReplaced: Int
    /// First step (the first new node starting) until every member runs the target.
    public var totalUs: Double
    /// Writes acknowledged during the swap, and attempts that failed (no
    /// leader, leadership moving) and were retried.
    public var writes: Int
    public var failedAttempts: Int
    /// Longest time without an acknowledged write during the swap: how long
    /// the cluster was unwritable at worst (the load keeps retrying).
    public var longestWriteGapUs: Double
    /// Write latency (submit → acknowledgement) during the swap.
    public var writeLatencyUs: LatencySummary?
    /// State shipped to the new nodes in InstallSnapshot chunks, and log
    /// entry payload sent between all nodes during the swap.
    public var snapshotBytes: UInt64
    public var entryBytes: UInt64

    public init(
        to: ReportBackend, nodesReplaced: Int, totalUs: Double, writes: Int, failedAttempts: Int, longestWriteGapUs: Double,
        writeLatencyUs: LatencySummary?, snapshotBytes: UInt64, entryBytes: UInt64
    ) {
        self.to = to
        self.nodesReplaced = nodesReplaced
        self.totalUs = totalUs
        self.writes = writes
        self.failedAttempts = failedAttempts
        self.longestWriteGapUs = longestWriteGapUs
        self.writeLatencyUs = writeLatencyUs
        self.snapshotBytes = snapshotBytes
        self.entryBytes = entryBytes
    }

    enum CodingKeys: String, CodingKey {
        case to
        case nodesReplaced = "nodes_replaced"
        case totalUs = "total_us"
        case writes
        case failedAttempts = "failed_attempts"
        case longestWriteGapUs = "longest_write_gap_us"
        case writeLatencyUs = "write_latency_us"
        case snapshotBytes = "snapshot_bytes"
        case entryBytes = "entry_bytes"
    }
}
