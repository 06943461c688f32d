import StorageCore

/// One measured configuration: one backend pair, workload and load at one
/// concurrency (the median over repetitions when there were several).
///
/// Values that a run may legitimately not have (a phase that was not run, a
/// counter the platform does not offer, a workload without reads) are
/// optionals and are written as `null`, never omitted, so every report has
/// the same key set and tools reading it need no special cases.
public struct BenchResult: Codable, Sendable, Equatable {
    public var backend: ReportBackend
    public var sync: Bool
    public var nodes: Int
    public var concurrency: Int
    public var valueSize: Int
    /// Operations measured (writes, reads and scans), each counted once
    /// whatever its number of attempts.
    public var ops: Int
    public var throughputOpsS: Double
    /// Writes: client's first attempt (or, open loop, the intended start) →
    /// the final acknowledgement, retries included. Nil only for a workload
    /// without writes (YCSB C), written to report.json as an object whose
    /// percentiles are null, as `replication_lag_us` is: its keys stay.
    public var writeLatencyUs: LatencySummary?
    /// Per write, leader commit → each follower's apply of the same index.
    public var replicationLagUs: LagSummary
    public var recovery: RecoveryTimes
    /// Bytes the data directories occupy at the end of the run.
    public var diskBytes: UInt64?
    /// Bytes the process(es) wrote to disk (/proc/<pid>/io) per byte of user data.
    public var writeAmplification: Double?
    /// Syncs observed at the system call on every node's data directory
    /// (fsync, fdatasync, msync, O_SYNC/O_DSYNC writes), per acknowledged write.
    public var syncsPerWrite: Double?

    /// "write" (the write-only runs) or a YCSB core workload "a" ... "f".
    public var workload: String
    /// How keys were chosen: "uniform", "zipfian", "latest" or "sequential".
    public var distribution: String
    /// "closed" (each client waits for its answer before the next request)
    /// or "open" (requests sent on a fixed schedule, `targetRate` per second).
    public var load: String
    /// Requests per second of an open-loop run; nil when closed.
    public var targetRate: Double?
    /// Attempts answered with an error (not the leader, no leader, shutting
    /// down, a server error); each was retried.
    public var errors: Int
    /// Attempts with no answer in time (the outcome unknown); each was retried.
    public var timeouts: Int
    /// Reads (workload reads and the read half of read-modify-write), same
    /// clock as writes; nil when the workload has none.
    public var readLatencyUs: PercentileSummary?
    /// Scans (workload E); nil when the workload has none.
    public var scanLatencyUs: PercentileSummary?
    /// The stores' own sync counters per acknowledged write: a cross-check of `syncsPerWrite`.
    public var syncsPerWriteReported: Double?

    /// When the state store syncs: "checkpoint" or "always"; nil in older reports.
    public var stateSync: String?
    /// "local" or "strong" for workloads with reads; nil otherwise.
    public var readConsistency: String?
    /// Both backends keep data on disk. Only persistent rows are ranked
    /// against each other; the others (memory) are reference rows.
    public var persistent: Bool?
    /// The observed sync calls of the measured window, by kind, all nodes.
    public var syncCalls: SyncCallCounts?
    /// Acknowledged writes, reads and scans in the measured window.
    public var writes: Int?
    public var reads: Int?
    public var scans: Int?
    /// Seconds the measured window lasted (warm-up and preload excluded).
    public var measuredS: Double?
    /// Times the leader's log was seen compacted during the window (steady state).
    public var logCompactions: Int?
    /// Repetitions this result is the median of, and their spread.
    public var repetitions: Int?
    public var spread: Spread?

    public init(
        backend: ReportBackend, sync: Bool, nodes: Int, concurrency: Int, valueSize: Int, ops: Int,
        throughputOpsS: Double, writeLatencyUs: LatencySummary?,
        replicationLagUs: LagSummary = LagSummary(), recovery: RecoveryTimes = RecoveryTimes(),
        diskBytes: UInt64? = nil, writeAmplification: Double? = nil, syncsPerWrite: Double? = nil,
        workload: String = "write", distribution: String = "uniform", load: String = "closed",
        targetRate: Double? = nil, errors: Int = 0, timeouts: Int = 0,
        readLatencyUs: PercentileSummary? = nil, scanLatencyUs: PercentileSummary? = nil,
        syncsPerWriteReported: Double? = nil
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
        self.workload = workload
        self.distribution = distribution
        self.load = load
        self.targetRate = targetRate
        self.errors = errors
        self.timeouts = timeouts
        self.readLatencyUs = readLatencyUs
        self.scanLatencyUs = scanLatencyUs
        self.syncsPerWriteReported = syncsPerWriteReported
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
        case workload, distribution, load
        case targetRate = "target_rate"
        case errors, timeouts
        case readLatencyUs = "read_latency_us"
        case scanLatencyUs = "scan_latency_us"
        case syncsPerWriteReported = "syncs_per_write_reported"
        case stateSync = "state_sync"
        case readConsistency = "read_consistency"
        case persistent
        case syncCalls = "sync_calls"
        case writes, reads, scans
        case measuredS = "measured_s"
        case logCompactions = "log_compactions"
        case repetitions, spread
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
        writeLatencyUs = try c.decodeIfPresent(LatencySummary.Unmeasured.self, forKey: .writeLatencyUs)?.summary
        replicationLagUs = try c.decodeIfPresent(LagSummary.self, forKey: .replicationLagUs) ?? LagSummary()
        recovery = try c.decodeIfPresent(RecoveryTimes.self, forKey: .recovery) ?? RecoveryTimes()
        diskBytes = try c.decodeIfPresent(UInt64.self, forKey: .diskBytes)
        writeAmplification = try c.decodeIfPresent(Double.self, forKey: .writeAmplification)
        syncsPerWrite = try c.decodeIfPresent(Double.self, forKey: .syncsPerWrite)
        // Reports from before these keys existed: write-only, closed loop, no failures counted.
        workload = try c.decodeIfPresent(String.self, forKey: .workload) ?? "write"
        distribution = try c.decodeIfPresent(String.self, forKey: .distribution) ?? "uniform"
        load = try c.decodeIfPresent(String.self, forKey: .load) ?? "closed"
        targetRate = try c.decodeIfPresent(Double.self, forKey: .targetRate)
        errors = try c.decodeIfPresent(Int.self, forKey: .errors) ?? 0
        timeouts = try c.decodeIfPresent(Int.self, forKey: .timeouts) ?? 0
        readLatencyUs = try c.decodeIfPresent(PercentileSummary.self, forKey: .readLatencyUs)
        scanLatencyUs = try c.decodeIfPresent(PercentileSummary.self, forKey: .scanLatencyUs)
        syncsPerWriteReported = try c.decodeIfPresent(Double.self, forKey: .syncsPerWriteReported)
        stateSync = try c.decodeIfPresent(String.self, forKey: .stateSync)
        readConsistency = try c.decodeIfPresent(String.self, forKey: .readConsistency)
        persistent = try c.decodeIfPresent(Bool.self, forKey: .persistent)
        syncCalls = try c.decodeIfPresent(SyncCallCounts.self, forKey: .syncCalls)
        writes = try c.decodeIfPresent(Int.self, forKey: .writes)
        reads = try c.decodeIfPresent(Int.self, forKey: .reads)
        scans = try c.decodeIfPresent(Int.self, forKey: .scans)
        measuredS = try c.decodeIfPresent(Double.self, forKey: .measuredS)
        logCompactions = try c.decodeIfPresent(Int.self, forKey: .logCompactions)
        repetitions = try c.decodeIfPresent(Int.self, forKey: .repetitions)
        spread = try c.decodeIfPresent(Spread.self, forKey: .spread)
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
        try c.encode(LatencySummary.Unmeasured(writeLatencyUs), forKey: .writeLatencyUs)
        try c.encode(replicationLagUs, forKey: .replicationLagUs)
        try c.encode(recovery, forKey: .recovery)
        // encode(Optional) writes null for nil: the key stays in the file.
        try c.encode(diskBytes, forKey: .diskBytes)
        try c.encode(writeAmplification, forKey: .writeAmplification)
        try c.encode(syncsPerWrite, forKey: .syncsPerWrite)
        try c.encode(workload, forKey: .workload)
        try c.encode(distribution, forKey: .distribution)
        try c.encode(load, forKey: .load)
        try c.encode(targetRate, forKey: .targetRate)
        try c.encode(errors, forKey: .errors)
        try c.encode(timeouts, forKey: .timeouts)
        try c.encode(readLatencyUs, forKey: .readLatencyUs)
        try c.encode(scanLatencyUs, forKey: .scanLatencyUs)
        try c.encode(syncsPerWriteReported, forKey: .syncsPerWriteReported)
        try c.encode(stateSync, forKey: .stateSync)
        try c.encode(readConsistency, forKey: .readConsistency)
        try c.encode(persistent, forKey: .persistent)
        try c.encode(syncCalls, forKey: .syncCalls)
        try c.encode(writes, forKey: .writes)
        try c.encode(reads, forKey: .reads)
        try c.encode(scans, forKey: .scans)
        try c.encode(measuredS, forKey: .measuredS)
        try c.encode(logCompactions, forKey: .logCompactions)
        try c.encode(repetitions, forKey: .repetitions)
        try c.encode(spread, forKey: .spread)
    }

    /// Whether this row competes for "best" in the report: both stores keep
    /// data on disk. A report older than the flag ranks every row but memory.
    public var isRanked: Bool {
        persistent ?? (backend.log != "memory" && backend.state != "memory")
    }
}

/// p50, p99 and max of one kind of operation, in microseconds.
public struct PercentileSummary: Codable, Sendable, Equatable {
    public var p50: Double
    public var p99: Double
    public var max: Double

    public init(p50: Double, p99: Double, max: Double) {
        self.p50 = p50
        self.p99 = p99
        self.max = max
    }

    enum CodingKeys: String, CodingKey { case p50, p99, max }
}

/// Sync system calls of a measured window, all nodes together, by kind.
public struct SyncCallCounts: Codable, Sendable, Equatable {
    public var fsync: UInt64
    public var fdatasync: UInt64
    /// msync with MS_SYNC.
    public var msync: UInt64
    /// Writeback requests, not counted as syncs.
    public var syncFileRange: UInt64
    /// Writes through O_SYNC/O_DSYNC descriptors.
    public var syncWrites: UInt64

    public init(fsync: UInt64 = 0, fdatasync: UInt64 = 0, msync: UInt64 = 0, syncFileRange: UInt64 = 0, syncWrites: UInt64 = 0) {
        self.fsync = fsync
        self.fdatasync = fdatasync
        self.msync = msync
        self.syncFileRange = syncFileRange
        self.syncWrites = syncWrites
    }

    /// The durability points: everything but sync_file_range.
    public var syncs: UInt64 { fsync + fdatasync + msync + syncWrites }

    enum CodingKeys: String, CodingKey {
        case fsync, fdatasync, msync
        case syncFileRange = "sync_file_range"
        case syncWrites = "sync_writes"
    }
}

/// The lowest and highest value of a metric across repetitions.
public struct MinMax: Codable, Sendable, Equatable {
    public var min: Double
    public var max: Double

    public init(min: Double, max: Double) {
        self.min = min
        self.max = max
    }

    /// Nil when no repetition had the value.
    public init?(_ values: [Double?]) {
        let present = values.compactMap { $0 }
        guard let low = present.min(), let high = present.max() else { return nil }
        self.init(min: low, max: high)
    }
}

/// How far repetitions of one result were apart (the result itself is their median).
public struct Spread: Codable, Sendable, Equatable {
    public var throughputOpsS: MinMax?
    public var writeP50Us: MinMax?
    public var writeP99Us: MinMax?
    public var readP50Us: MinMax?
    public var readP99Us: MinMax?
    public var lagP99Us: MinMax?
    public var syncsPerWrite: MinMax?

    public init(
        throughputOpsS: MinMax? = nil, writeP50Us: MinMax? = nil, writeP99Us: MinMax? = nil, readP50Us: MinMax? = nil,
        readP99Us: MinMax? = nil, lagP99Us: MinMax? = nil, syncsPerWrite: MinMax? = nil
    ) {
        self.throughputOpsS = throughputOpsS
        self.writeP50Us = writeP50Us
        self.writeP99Us = writeP99Us
        self.readP50Us = readP50Us
        self.readP99Us = readP99Us
        self.lagP99Us = lagP99Us
        self.syncsPerWrite = syncsPerWrite
    }

    enum CodingKeys: String, CodingKey {
        case throughputOpsS = "throughput_ops_s"
        case writeP50Us = "write_p50_us"
        case writeP99Us = "write_p99_us"
        case readP50Us = "read_p50_us"
        case readP99Us = "read_p99_us"
        case lagP99Us = "lag_p99_us"
        case syncsPerWrite = "syncs_per_write"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(throughputOpsS, forKey: .throughputOpsS)
        try c.encode(writeP50Us, forKey: .writeP50Us)
        try c.encode(writeP99Us, forKey: .writeP99Us)
        try c.encode(readP50Us, forKey: .readP50Us)
        try c.encode(readP99Us, forKey: .readP99Us)
        try c.encode(lagP99Us, forKey: .lagP99Us)
        try c.encode(syncsPerWrite, forKey: .syncsPerWrite)
    }
}

/// The log and state backends of a node, which may differ ("lmdb/leveldb"),
/// as `report.json` names them. Named apart from the runner's own backend
/// pair type so a module importing both never sees an ambiguous name.
public struct ReportBackend: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var log: String
    public var state: String
    /// The protections the row was measured with ("tls", "aes-256-gcm",
    /// "tls+aes-256-gcm"); nil (absent from the JSON) for none.
    public var protection: String?

    public init(log: String, state: String, protection: String? = nil) {
        self.log = log
        self.state = state
        self.protection = protection
    }

    /// The same backend for the log and the state.
    public init(_ both: String) { self.init(log: both, state: both) }

    /// The backends a node's storage config names.
    public init(_ storage: StorageConfig) { self.init(log: storage.logBackend, state: storage.stateBackend) }

    /// "log/state", how reports name a backend pair, with its protections
    /// ("lmdb/lmdb tls+aes-256-gcm").
    public var description: String { "\(log)/\(state)" + (protection.map { " \($0)" } ?? "") }

    public static func < (a: Self, b: Self) -> Bool {
        (a.log, a.state, a.protection ?? "") < (b.log, b.state, b.protection ?? "")
    }

    enum CodingKeys: String, CodingKey { case log, state, protection }
}

/// Write latency percentiles in microseconds. Present whenever the workload
/// writes: a write workload without an acknowledged write is a failed run.
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

    /// A summary or, where nothing was measured, the same keys with null
    /// values (never a bare null), so a tool reading `write_latency_us.p50`
    /// finds the key in every row.
    struct Unmeasured: Codable {
        var summary: LatencySummary?

        init(_ summary: LatencySummary?) { self.summary = summary }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let values = try [CodingKeys.p50, .p90, .p99, .p999, .max].map { try c.decodeIfPresent(Double.self, forKey: $0) }
            if values.allSatisfy({ $0 == nil }) {
                summary = nil
                return
            }
            // Part of a summary is not one.
            summary = try LatencySummary(from: decoder)
        }

        func encode(to encoder: any Encoder) throws {
            if let summary { return try summary.encode(to: encoder) }
            var c = encoder.container(keyedBy: CodingKeys.self)
            for key in [CodingKeys.p50, .p90, .p99, .p999, .max] { try c.encodeNil(forKey: key) }
        }
    }
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
    /// How the restarted follower got its state back: "tail_replay" (its disk
    /// state store reopened at its last checkpoint, the log replayed after
    /// it) or "snapshot" (a memory state store beside a disk log came back
    /// empty and was restored from the leader's snapshot). Nil when not
    /// measured: a node with a memory log cannot restart as itself; it
    /// rejoins empty, which `snapshotInstallUs` measures.
    public var restartPath: String?
    /// (b) A follower that was down while `catchUpEntries` writes happened, until caught up.
    public var catchUpUs: Double?
    /// Writes the follower missed in (b): N, at most 100,000 (past that the
    /// follower catches up through a snapshot of the whole state anyway).
    public var catchUpEntries: Int?
    /// (c) A new, empty node joining as a learner, until caught up through
    /// InstallSnapshot: also what a memory state store's node costs to come back.
    public var snapshotInstallUs: Double?
    /// (d) Client-observed unavailability: from the leader's crash (SIGKILL
    /// of its process; in process, the node cut off and halted without a
    /// clean stop) to the first write acknowledged by the new leader.
    public var failoverUs: Double?
    /// (e) A live swap of every node's storage engine under load (`--migrate-to`).
    public var migration: MigrationFigures?

    public init(
        entries: Int? = nil, restartUs: Double? = nil, catchUpUs: Double? = nil,
        snapshotInstallUs: Double? = nil, failoverUs: Double? = nil, restartPath: String? = nil,
        catchUpEntries: Int? = nil, migration: MigrationFigures? = nil
    ) {
        self.restartPath = restartPath
        self.catchUpEntries = catchUpEntries
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
        case restartPath = "restart_path"
        case catchUpEntries = "catch_up_entries"
        case migration
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        entries = try c.decodeIfPresent(Int.self, forKey: .entries)
        restartUs = try c.decodeIfPresent(Double.self, forKey: .restartUs)
        catchUpUs = try c.decodeIfPresent(Double.self, forKey: .catchUpUs)
        snapshotInstallUs = try c.decodeIfPresent(Double.self, forKey: .snapshotInstallUs)
        failoverUs = try c.decodeIfPresent(Double.self, forKey: .failoverUs)
        restartPath = try c.decodeIfPresent(String.self, forKey: .restartPath)
        catchUpEntries = try c.decodeIfPresent(Int.self, forKey: .catchUpEntries)
        migration = try c.decodeIfPresent(MigrationFigures.self, forKey: .migration)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(entries, forKey: .entries)
        try c.encode(restartUs, forKey: .restartUs)
        try c.encode(catchUpUs, forKey: .catchUpUs)
        try c.encode(snapshotInstallUs, forKey: .snapshotInstallUs)
        try c.encode(failoverUs, forKey: .failoverUs)
        try c.encode(restartPath, forKey: .restartPath)
        try c.encode(catchUpEntries, forKey: .catchUpEntries)
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
