import Foundation
import Linearizability
import RaftLabBackends
import Testing

@testable import RaftLabChaos

/// The `raftlab` executable next to the test bundle (`swift build --build-tests` builds both).
private let raftlabBinary: String = {
    let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("raftlab").path
}()

/// A short seeded chaos run against real node processes: CI's proof that the
/// whole pipeline (processes, faults, clients, checker, end checks, report)
/// works and finds the cluster linearizable. Runs alone in `scripts/test.sh`
/// (it keeps three node processes and the clients busy).
@Suite("ChaosRun", .serialized)
struct ChaosRunTests {
    @Test("20 s on leveldb under kill, pause and partition: linearizable, nothing lost, identical replicas")
    func shortRun() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("raftlab-chaos-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = ChaosOptions()
        options.logBackend = "leveldb"
        options.stateBackend = "leveldb"
        options.duration = 20
        options.faultInterval = 2
        options.rate = 150
        options.seed = 11
        options.outputDirectory = directory
        options.serverExecutable = raftlabBinary
        options.checkerTimeout = .seconds(60)
        let result = try await ChaosRunner(options: options, registry: .standard, command: "test").run()

        let report = (try? String(contentsOfFile: directory + "/report.md", encoding: .utf8)) ?? "(no report.md)"
        #expect(result.verdict == .linearizable, "\(report)")
        #expect(result.endChecks.passed, "\(report)")
        #expect(Set(result.faults.map(\.kind)) == [.kill, .pause, .partition], "\(report)")
        let ok = result.operations.filter { !$0.isFinalRead && $0.outcome.type == "ok" }.count
        #expect(ok >= 200, "\(report)")
        for file in ["history.jsonl", "report.json", "report.md", "timeline.svg"] {
            #expect(FileManager.default.fileExists(atPath: directory + "/" + file))
        }
    }
}
