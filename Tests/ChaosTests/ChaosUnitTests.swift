import Foundation
import Linearizability
import NoSQL
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

    /// `value` as the Foundation objects the chaos documents were built
    /// from before they became JSONValues: Ints, UInt64s, Doubles, NSNull.
    /// With `integralDoubles`, whole numbers are Doubles instead of Ints.
    func foundationObject(_ value: JSONValue, integralDoubles: Bool = false) -> Any {
        switch value {
        case .null: return NSNull()
        case .bool(let value): return value
        case .string(let value): return value
        case .array(let elements): return elements.map { foundationObject($0, integralDoubles: integralDoubles) }
        case .object(let object):
            return Dictionary(uniqueKeysWithValues: object.members.map {
                ($0.key, foundationObject($0.value, integralDoubles: integralDoubles))
            })
        case .number(let number):
            if let integer = number.int64Value {
                if integralDoubles && integer.magnitude < 1 << 53 { return Double(integer) }
                return Int(integer)
            }
            if let integer = number.uint64Value { return integer }
            return number.doubleValue
        }
    }

    func serialized(_ value: JSONValue, pretty: Bool, integralDoubles: Bool = false) throws -> String {
        let options: JSONSerialization.WritingOptions = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        let data = try JSONSerialization.data(withJSONObject: foundationObject(value, integralDoubles: integralDoubles), options: options)
        return String(decoding: data, as: UTF8.self)
    }

    @Test("report.json and history.jsonl keep the bytes JSONSerialization wrote for them")
    func reportTextMatchesJSONSerialization() throws {
        // Keys, strings and numbers where JSONSerialization has its own ways:
        // numeric, case-insensitive key order, escaped slashes, control
        // characters, empty containers on their own lines when pretty.
        let tricky: JSONValue = [
            "k10": 1, "k9": 2, "K1": 3, "_a": 4, "a_b": 5, "ab": 6, "fault_interval_s": 3, "faults": ["kill", "pause"],
            "text": "raftlab chaos --out /tmp/x \"q\" \\ tab\t nl\n cr\r \u{1} \u{1f} \u{7f} é 🎲 \u{8} \u{c}",
            "empty_array": [], "empty_object": [:], "nested": ["a": [[], [:], [1, [2]]], "z": nil],
            "numbers": [
                0, -5, .number(JSONNumber(UInt64.max)), .number(JSONNumber(Int64.min)), .number(JSONNumber(1_700_000_000_123_456_789)),
                .number(try #require(JSONNumber(0.1))), .number(try #require(JSONNumber(0.5))), .number(try #require(JSONNumber(1e-05))),
                .number(try #require(JSONNumber(-2.345))), .number(try #require(JSONNumber(123456.789))),
                .number(try #require(JSONNumber(0.30000000000000004))), .number(try #require(JSONNumber(1.5e300))),
            ],
            "flags": [true, false],
        ]
        #expect(ReportJSONText.text(tricky, pretty: true) == (try serialized(tricky, pretty: true)))
        #expect(ReportJSONText.text(tricky, pretty: false) == (try serialized(tricky, pretty: false)))
        // Whole numbers were Doubles in places (7.0 s) and Ints in others: both print alike.
        #expect((try serialized(tricky, pretty: true, integralDoubles: true)) == (try serialized(tricky, pretty: true)))

        // A run's documents, as ChaosReport writes them.
        var options = ChaosOptions()
        options.outputDirectory = "/tmp/chaos-out"
        let operations = [
            op(0, .put(value: "a/b"), .ok(.written(version: 2)), 1_000_000_000, 1_010_000_000),
            op(1, .read, .ok(.value("a/b", version: 2)), 2_000_000_000, 2_005_123_456),
            op(2, .compareAndSet(expected: 2, value: "c"), .ok(.conflict), 2_100_000_000, 2_200_000_000),
            op(3, .delete, .ok(.deleted("a/b", version: 2)), 2_300_000_000, 2_300_500_000),
            op(4, .put(value: "b"), .fail("503 no_leader"), 3_000_000_000, 3_001_000_000),
            op(5, .put(value: "c"), .info("timeout"), 3_500_000_000, 6_500_000_000),
        ]
        var checks = EndChecks()
        checks.converged = true
        checks.convergenceSeconds = 1.25
        checks.digests = [1: "x", 2: "y", 10: "x"]
        checks.digestIndex = 42
        checks.stuckNodes = [2]
        checks.divergentKeys = ["k0"]
        checks.lostAcknowledgedWrites = [LostWrite(operation: 0, key: "k0", node: 2, finalState: "absent")]
        let faults = [
            FaultRecord(kind: .kill, shape: nil, node: 2, nodes: [2], wasLeader: true, detail: "SIGKILL", start: 2.5, end: 5.5,
                        recovered: nil),
            FaultRecord(kind: .partition, shape: .bridge, node: 1, nodes: [1, 2], wasLeader: false, detail: "1,2 | 3",
                        start: 4, end: nil, recovered: nil),
        ]
        let result = ChaosResult(
            options: options, config: ClusterConfig(nodes: []), directory: "/tmp/chaos-out", operations: operations,
            faults: faults, checker: LinearizabilityChecker.Result(verdict: .unknown, keys: [], seconds: 0.123456),
            checkerError: "ran out of time", endChecks: checks, loadSeconds: 7, command: "raftlab chaos --out /tmp/chaos-out")
        let document = ChaosReport(result).document()
        #expect(ReportJSONText.text(document, pretty: true) == (try serialized(document, pretty: true)))
        #expect(ReportJSONText.text(document, pretty: true).contains(#""command" : "raftlab chaos --out \/tmp\/chaos-out""#))
        let lines = HistoryRecorder.jsonLines(operations).split(separator: "\n")
        #expect(lines.count == 12)
        for line in lines {
            #expect(String(line) == (try serialized(try JSONValue.parse(String(line)), pretty: false)))
        }
        #expect(lines.first == #"{"f":"put","key":"k0","op":0,"process":"1","time_ns":1000000000,"type":"invoke","value":"a\/b"}"#)
    }

    @Test("--faults parses names, refuses unknown ones")
    func parseFaults() throws {
        #expect(try ChaosOptions.faults(parsing: "kill,pause,partition") == [.kill, .pause, .partition])
        #expect(try ChaosOptions.faults(parsing: "none") == [])
        #expect(throws: ChaosError.self) { try ChaosOptions.faults(parsing: "kill,meteor") }
    }
}
