import Foundation
import RaftLabBackends
import RaftLabBench
import RaftLabHarness
import StorageCore
import Testing

/// `raftlab bench --transport tcp`: one `raftlab server` process per node,
/// driven over HTTP.
@Suite("Bench over TCP: one process per node", .serialized)
struct TCPBenchTests {
    /// The raftlab binary SwiftPM builds next to the test bundle.
    static var raftlab: String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("raftlab").path
    }

    func options(backend: String, out: String) -> BenchOptions {
        var options = BenchOptions()
        options.backends = [BackendPair(backend)]
        options.transport = .tcp
        options.nodes = 3
        options.ops = 60
        options.concurrency = [4]
        options.workloads = [.write]
        options.records = 50
        options.warmup = 0
        options.recoveryEntries = 60
        options.outputDirectory = out
        options.label = "tcp-test"
        options.serverExecutable = Self.raftlab
        return options
    }

    @Test("TCP bench: a run on node processes measures latency, lag, observed syncs, recovery and write amplification",
          .timeLimit(.minutes(3)))
    func runsOnProcesses() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.raftlab), "build the raftlab product first: \(Self.raftlab)")
        let out = NSTemporaryDirectory() + "raftlab-tcp-bench-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let runner = BenchRunner(
            options: options(backend: "lmdb", out: out), registry: .standard, version: "test")
        let outcome = try await runner.run()
        let result = try #require(outcome.report.results.first)
        #expect(result.ops == 60)
        #expect((result.writeLatencyUs?.p50 ?? 0) > 0)
        #expect(result.throughputOpsS > 0)
        // Measured across processes: recovery by restarting, joining and killing node processes,
        // bytes written from /proc/<pid>/io of the node processes, syncs and apply times
        // from each node's admin endpoints.
        #expect(result.recovery.restartUs != nil)
        #expect(result.recovery.catchUpUs != nil)
        #expect(result.recovery.snapshotInstallUs != nil)
        #expect(result.recovery.failoverUs != nil)
        #expect((result.writeAmplification ?? 0) > 0)
        #expect((result.diskBytes ?? 0) > 0)
        #expect(result.replicationLagUs.p99 != nil)
        #expect((result.syncsPerWrite ?? 0) > 0 && (result.syncCalls?.syncWrites ?? 0) > 0)
        for file in ["report.json", "report.md", "latency.csv"] {
            #expect(FileManager.default.fileExists(atPath: "\(out)/\(file)"), "\(file) written")
        }
        #expect(try noServerProcesses(mentioning: "raftlab-bench-"))
    }

    @Test("TCP bench: a node process that cannot start fails the run with its exit status, and nothing is left running")
    func nodeThatDoesNotStart() async throws {
        let out = NSTemporaryDirectory() + "raftlab-tcp-bench-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        var options = options(backend: "memory", out: out)
        options.serverExecutable = "/bin/false"
        let runner = BenchRunner(options: options, registry: .standard, version: "test")
        do {
            _ = try await runner.run()
            Issue.record("a run whose nodes exit at once succeeded")
        } catch let error as BenchError {
            #expect(error.description.contains("node 1 exited with status 1"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(out)/report.json"))
    }

    /// True when no `raftlab server` process has a command line containing `marker`.
    func noServerProcesses(mentioning marker: String) throws -> Bool {
        let me = getpid()
        for entry in try FileManager.default.contentsOfDirectory(atPath: "/proc") {
            guard let pid = Int32(entry), pid != me,
                let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
            else { continue }
            let line = String(decoding: raw.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
            if line.contains(" server "), line.contains(marker), line.contains("raftlab") {
                // A child of this test process that was not ended.
                if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                    status.contains("PPid:\t\(me)\n")
                {
                    return false
                }
            }
        }
        return true
    }
}
