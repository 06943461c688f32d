import Foundation
import Linearizability
import RaftLabNode
import RaftLabHTTPClient
import Testing

@testable import RaftLabChaos

@Suite("Chaos: answers, lost writes, reports")
struct ChaosUnitTests {
    func response(_ status: Int, _ body: String) -> SimpleHTTPResponse {
        SimpleHTTPResponse(status: status, headers: [], body: Array(body.utf8))
    }

    @Test("HTTP answers map to ok, fail (nothing applied) and info (unknown outcome)")
    func interpret() {
        func outcome(_ attempt: Attempt) -> String {
            switch attempt {
            case .done(let result): "done \(result)"
            case .refused(_, let leader): "refused \(leader.map(String.init) ?? "-")"
            case .unknown: "unknown"
            }
        }
        let put = RegisterCall.put(value: "c1-1")
        let cas = RegisterCall.compareAndSet(expected: 4, value: "c1-2")
        #expect(outcome(NodeRequests.interpret(response(200, #"{"item":{"k":"k0","v":"c1-1"},"version":7,"index":7}"#), call: put))
            == "done written(version: 7)")
        #expect(outcome(NodeRequests.interpret(response(409, #"{"error":"version_conflict","message":"x"}"#), call: cas))
            == "done conflict")
        #expect(outcome(NodeRequests.interpret(response(404, #"{"error":"item_not_found","message":"x"}"#), call: .read))
            == "done absent")
        #expect(outcome(NodeRequests.interpret(response(404, #"{"error":"item_not_found","message":"x"}"#), call: .delete))
            == "done notFound")
        #expect(outcome(NodeRequests.interpret(
            response(200, #"{"deleted_item":{"k":"k0","v":"c2-9"},"deleted_version":12,"index":15}"#), call: .delete))
            == #"done deleted("c2-9", version: 12)"#)
        #expect(outcome(NodeRequests.interpret(
            response(307, #"{"error":"not_leader","message":"x","leader_id":3,"leader_addr":"127.0.0.1:9"}"#), call: put))
            == "refused 3")
        #expect(outcome(NodeRequests.interpret(response(503, #"{"error":"no_leader","message":"x"}"#), call: put)) == "refused -")
        #expect(outcome(NodeRequests.interpret(response(503, #"{"error":"shutting_down","message":"x"}"#), call: put)) == "refused -")
        #expect(outcome(NodeRequests.interpret(response(504, #"{"error":"outcome_unknown","message":"x"}"#), call: put)) == "unknown")
        #expect(outcome(NodeRequests.interpret(response(500, #"{"error":"internal","message":"x"}"#), call: put)) == "unknown")
    }

    func op(
        _ id: Int, _ call: RegisterCall, _ outcome: OperationOutcome, _ invoked: UInt64, _ completed: UInt64, key: String = "k0"
    ) -> ChaosOperation {
        ChaosOperation(
            id: id, client: 1, key: key, call: call, invokedAt: invoked, completedAt: completed, outcome: outcome, node: 1,
            attempts: 1)
    }

    @Test("an acknowledged write missing from a replica's final state is lost; one overwritten later is not")
    func lostWrites() {
        let operations = [
            op(0, .put(value: "a"), .ok(.written(version: 2)), 0, 10),
            op(1, .put(value: "b"), .ok(.written(version: 3)), 20, 30),
            op(2, .put(value: "c"), .info("timeout"), 40, 50),
            op(3, .put(value: "x"), .ok(.written(version: 5)), 0, 10, key: "k1"),
            op(4, .delete, .ok(.deleted("x", version: 5)), 20, 30, key: "k1"),
        ]
        // Node 1 ends with c (an unknown write that took effect) and k1 deleted: nothing lost.
        let fine = ChaosRunner.lostWrites(operations, replicas: [1: ["k0": .value("c", version: 9), "k1": .absent]])
        #expect(fine.isEmpty)
        // Node 2 ends with a: b, acknowledged after a completed, is lost; k1 shows x again after its delete.
        let lost = ChaosRunner.lostWrites(
            operations, replicas: [2: ["k0": .value("a", version: 2), "k1": .value("x", version: 5)]])
        #expect(Set(lost.map(\.operation)) == [1, 4])
        #expect(Set(lost.map(\.operation)).count == 2)
    }

    @Test("report.json carries the keys tools read, with the values of the run")
    func reportKeys() throws {
        var options = ChaosOptions()
        options.outputDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("chaos-report-\(UUID())").path
        try FileManager.default.createDirectory(atPath: options.outputDirectory!, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: options.outputDirectory!) }
        let operations = [
            op(0, .put(value: "a"), .ok(.written(version: 2)), 1_000_000_000, 1_010_000_000),
            op(1, .read, .ok(.value("a", version: 2)), 2_000_000_000, 2_005_000_000),
            op(2, .put(value: "b"), .fail("503 no_leader"), 3_000_000_000, 3_001_000_000),
            op(3, .put(value: "c"), .info("timeout"), 3_500_000_000, 6_500_000_000),
        ]
        var checks = EndChecks()
        checks.converged = true
        checks.identicalState = true
        checks.digests = [1: "x", 2: "x", 3: "x"]
        let fault = FaultRecord(
            kind: .kill, shape: nil, node: 2, nodes: [2], wasLeader: true, detail: "SIGKILL", start: 2.5, end: 5.5,
            recovered: 6.0)
        let result = ChaosResult(
            options: options, config: ClusterConfig(nodes: []), directory: options.outputDirectory!,
            operations: operations, faults: [fault],
            checker: LinearizabilityChecker.Result(verdict: .linearizable, keys: [], seconds: 0.25), checkerError: nil,
            endChecks: checks, loadSeconds: 7, command: "raftlab chaos")
        try ChaosReport(result).write()
        let data = try Data(contentsOf: URL(fileURLWithPath: options.outputDirectory! + "/report.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["verdict"] as? String == "linearizable")
        #expect(json["ops"] as? [String: Int] == ["ok": 2, "fail": 1, "info": 1])
        #expect(json["availability"] as? Double == 0.5)
        #expect(json["lost_acknowledged_writes"] as? Int == 0)
        #expect(json["checker_seconds"] as? Double == 0.25)
        let faults = try #require(json["faults"] as? [[String: Any]])
        #expect(faults.count == 1)
        #expect(faults[0]["kind"] as? String == "kill" && faults[0]["node"] as? Int == 2)
        #expect(faults[0]["start_s"] as? Double == 2.5 && faults[0]["end_s"] as? Double == 5.5)
        let windows = try #require(json["latency_by_window"] as? [[String: Any]])
        #expect(windows.count == 2)
        #expect((windows[1]["ops"] as? [String: Int]) == ["ok": 0, "fail": 1, "info": 1])
        for file in ["history.jsonl", "report.md", "timeline.svg"] {
            #expect(FileManager.default.fileExists(atPath: options.outputDirectory! + "/" + file))
        }
        let history = try String(contentsOfFile: options.outputDirectory! + "/history.jsonl", encoding: .utf8)
        #expect(history.split(separator: "\n").count == 8)
    }

    @Test("--faults parses names, refuses unknown ones")
    func parseFaults() throws {
        #expect(try ChaosOptions.faults(parsing: "kill,pause,partition") == [.kill, .pause, .partition])
        #expect(try ChaosOptions.faults(parsing: "none") == [])
        #expect(throws: ChaosError.self) { try ChaosOptions.faults(parsing: "kill,meteor") }
    }
}
