import Foundation
import RaftLabBackends
import RaftLabBench
import RaftLabReport
import StorageCore
import Testing

/// Short in-process runs (a few seconds each): what the report says must be
/// what was observed.
@Suite("Bench in one process", .serialized)
struct BenchRunTests {
    func options(_ backends: [String], out: String) -> BenchOptions {
        var options = BenchOptions()
        options.backends = try! BenchOptions.backends(parsing: backends.joined(separator: ","), registry: .standard)
        options.nodes = 3
        options.ops = 80
        options.concurrency = [4]
        options.workloads = [.write]
        options.records = 100
        options.warmup = 0
        options.recoveryEntries = 0
        options.outputDirectory = out
        options.label = "bench-test"
        return options
    }

    func run(_ options: BenchOptions) async throws -> BenchReport {
        defer { try? FileManager.default.removeItem(atPath: options.outputDirectory!) }
        let outcome = try await BenchRunner(options: options, registry: .standard, version: "test").run()
        for file in ["report.json", "report.md", "latency.csv"] {
            #expect(FileManager.default.fileExists(atPath: "\(options.outputDirectory!)/\(file)"), "\(file) written")
        }
        return outcome.report
    }

    func scratch() -> String { NSTemporaryDirectory() + "raftlab-bench-test-\(UUID().uuidString)" }

    @Test("syncs per write come from the system calls: a durable backend shows them, the same run with sync off shows none",
          .timeLimit(.minutes(2)))
    func syncsAreObserved() async throws {
        var durable = options(["lmdb", "leveldb"], out: scratch())
        durable.stateSync = [.checkpoint, .always]
        let report = try await run(durable)
        #expect(report.floor.quorumFdatasyncUs ?? 0 > 0)
        #expect(report.results.count == 4)
        for result in report.results {
            let calls = try #require(result.syncCalls)
            #expect(calls.syncs > 0, "\(result.backend) observed no sync")
            #expect((result.syncsPerWrite ?? 0) > 0 && (result.syncsPerWriteReported ?? 0) > 0)
            #expect(result.persistent == true && result.errors == 0 && result.timeouts == 0)
            #expect(result.replicationLagUs.p50 != nil, "lag measured from the nodes' timelines")
            #expect(result.workload == "write" && result.load == "closed" && result.targetRate == nil)
            if result.backend.log == "lmdb" {
                // LMDB's meta page goes through its O_DSYNC descriptor: seen only at the system call.
                #expect(calls.syncWrites > 0)
            }
        }
        // The state sync modes are rows of their own, and syncing every apply costs syncs.
        let leveldb = report.results.filter { $0.backend.log == "leveldb" }
        let checkpoint = try #require(leveldb.first { $0.stateSync == "checkpoint" }?.syncsPerWrite)
        let always = try #require(leveldb.first { $0.stateSync == "always" }?.syncsPerWrite)
        #expect(always > checkpoint)

        var unsynced = options(["lmdb", "leveldb"], out: scratch())
        unsynced.sync = false
        for result in try await run(unsynced).results {
            #expect(result.syncsPerWrite == 0, "\(result.backend) synced with sync off: \(String(describing: result.syncCalls))")
        }
    }

    @Test("YCSB workloads report read and scan latency; C has no writes; open loop is labelled with its rate",
          .timeLimit(.minutes(2)))
    func workloads() async throws {
        var ycsb = options(["memory"], out: scratch())
        ycsb.workloads = [.a, .c, .e]
        ycsb.distribution = .zipfian
        ycsb.rate = 400
        let report = try await run(ycsb)
        let byWorkload = Dictionary(uniqueKeysWithValues: report.results.map { ($0.workload, $0) })
        let a = try #require(byWorkload["a"]), c = try #require(byWorkload["c"]), e = try #require(byWorkload["e"])
        #expect(a.readLatencyUs != nil && a.writeLatencyUs != nil && a.scanLatencyUs == nil)
        #expect(c.readLatencyUs != nil && c.writeLatencyUs == nil && c.syncsPerWrite == nil)
        #expect(e.scanLatencyUs != nil)
        for result in report.results {
            #expect(result.distribution == "zipfian" && result.load == "open" && result.targetRate == 400)
            #expect(result.persistent == false)
        }
        let markdown = MarkdownReport.render(report, label: "t")
        #expect(markdown.contains("open loop"))
        let rows = markdown.split(separator: "\n").filter { $0.hasPrefix("|") }
        #expect(!rows.isEmpty && !rows.contains { $0.contains("**") }, "a memory-only run has no ranked row to mark")
    }

    @Test("recovery: restart replays the tail on disk or restores a memory state from a snapshot, a new node installs one, failover is a crash",
          .timeLimit(.minutes(2)))
    func recovery() async throws {
        var options = options(["lmdb", "leveldb/memory", "memory"], out: scratch())
        options.recoveryEntries = 300
        let report = try await run(options)
        func recovery(_ log: String, _ state: String) throws -> RecoveryTimes {
            try #require(report.results.first { $0.backend == ReportBackend(log: log, state: state) }?.recovery)
        }
        let lmdb = try recovery("lmdb", "lmdb")
        #expect(lmdb.entries == 300 && lmdb.restartPath == "tail_replay" && lmdb.catchUpEntries == 300)
        #expect(lmdb.restartUs != nil && lmdb.catchUpUs != nil && lmdb.snapshotInstallUs != nil && lmdb.failoverUs != nil)
        // A disk log beside a memory state store: the restarted node's state comes back from a snapshot.
        let mixed = try recovery("leveldb", "memory")
        #expect(mixed.restartPath == "snapshot" && mixed.restartUs != nil && mixed.catchUpUs != nil)
        let memory = try recovery("memory", "memory")
        #expect(memory.restartUs == nil && memory.catchUpUs == nil, "a memory node cannot come back as itself")
        #expect(memory.snapshotInstallUs != nil && memory.failoverUs != nil)
    }
}
