import Foundation
import RaftLabReport

/// Reports whose winners are known by construction, and scratch directories.
enum Fixtures {
    static let machine = MachineInfo(cores: 8, memoryBytes: 16 * 1024 * 1024 * 1024, os: "Debian GNU/Linux 12 (bookworm); Linux 6.1.0 x86_64")
    static let floor = Floor(fdatasyncUs: 250, loopbackRttUs: 25.5, quorumFdatasyncUs: 480)

    static let config: ReportConfig = [
        "label": "baseline",
        "backends": ["memory", "flatfile", "lmdb", "leveldb"],
        "sync": true,
        "nodes": 3,
        "concurrency": [1, 8],
        "value_size": 128,
        "ops": 10000,
        "raft": ["election_timeout_ms": 300, "heartbeat_ms": 50],
        "seed": nil,
    ]

    static func result(
        _ backend: String, concurrency: Int, throughput: Double, p50: Double,
        lagP50: Double? = 30, recovery: RecoveryTimes = RecoveryTimes(),
        disk: UInt64? = nil, amplification: Double? = nil, syncs: Double? = nil
    ) -> BenchResult {
        BenchResult(
            backend: ReportBackend(backend), sync: true, nodes: 3, concurrency: concurrency, valueSize: 128,
            ops: 10000, throughputOpsS: throughput,
            writeLatencyUs: LatencySummary(p50: p50, p90: p50 * 1.5, p99: p50 * 3, p999: p50 * 5, max: p50 * 10),
            replicationLagUs: LagSummary(p50: lagP50, p99: lagP50.map { $0 * 2 }, max: lagP50.map { $0 * 3 }),
            recovery: recovery, diskBytes: disk, writeAmplification: amplification, syncsPerWrite: syncs)
    }

    /// Concurrency 1: memory has the best throughput and latency; lmdb the best
    /// restart, disk, amplification; leveldb the best catch-up and snapshot
    /// install; memory and lmdb tie on failover; lmdb and leveldb tie on syncs/write.
    /// Concurrency 8: lmdb has the best throughput.
    static func report(startedAt: String = "2025-06-01T09:30:00Z") -> BenchReport {
        let mib: UInt64 = 1024 * 1024
        let results = [
            result("memory", concurrency: 1, throughput: 9000, p50: 50, lagP50: 20,
                   recovery: RecoveryTimes(entries: 1000, restartUs: nil, catchUpUs: 5000, snapshotInstallUs: 8000, failoverUs: 150_000)),
            result("flatfile", concurrency: 1, throughput: 1000, p50: 900, lagP50: 400,
                   recovery: RecoveryTimes(entries: 1000, restartUs: 40000, catchUpUs: 30000, snapshotInstallUs: 90000, failoverUs: 160_000),
                   disk: 10 * mib, amplification: 3.5, syncs: 2.0),
            result("lmdb", concurrency: 1, throughput: 2000, p50: 450, lagP50: 150,
                   recovery: RecoveryTimes(entries: 1000, restartUs: 20000, catchUpUs: 25000, snapshotInstallUs: 50000, failoverUs: 150_000),
                   disk: 4 * mib, amplification: 1.5, syncs: 1.0),
            result("leveldb", concurrency: 1, throughput: 1800, p50: 500, lagP50: 160,
                   recovery: RecoveryTimes(entries: 1000, restartUs: 30000, catchUpUs: 2000, snapshotInstallUs: 4500, failoverUs: 155_000),
                   disk: 5 * mib, amplification: 2.0, syncs: 1.0),
            result("memory", concurrency: 8, throughput: 11000, p50: 400, lagP50: 60),
            result("flatfile", concurrency: 8, throughput: 3000, p50: 2500, lagP50: 900, disk: 12 * mib, amplification: 3.4, syncs: 0.5),
            result("lmdb", concurrency: 8, throughput: 12000, p50: 600, lagP50: 200, disk: 6 * mib, amplification: 1.4, syncs: 0.25),
            result("leveldb", concurrency: 8, throughput: 10000, p50: 700, lagP50: nil, disk: 7 * mib, amplification: 1.9, syncs: 0.3),
        ]
        return BenchReport(raftlabVersion: "0.1.0", startedAt: startedAt, machine: machine, floor: floor,
                           config: config, results: results)
    }

    static let backends = ["memory/memory", "flatfile/flatfile", "lmdb/lmdb", "leveldb/leveldb"]

    /// A fresh directory under the system temporary directory.
    static func temporaryDirectory(_ name: String = #function) throws -> String {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        let path = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("raftlab-report-tests-\(safe)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }
}
