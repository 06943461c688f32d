import Foundation
import Linearizability
import NoSQL

/// Writes a run's report into its directory: `history.jsonl`,
/// `report.json`, `report.md` and `timeline.svg` (and, on a violation,
/// `counterexample.jsonl`).
///
/// `report.json` keys, fixed so tools can read them: `verdict`
/// ("linearizable" | "not_linearizable" | "unknown"), `ops` {ok, fail,
/// info}, `faults` [{kind, node, start_s, end_s}], `availability` (ok over
/// all operations), `lost_acknowledged_writes`, `checker_seconds`, and
/// `latency_by_window` (per fault window and for the calm between faults).
public struct ChaosReport: Sendable {
    let result: ChaosResult

    public init(_ result: ChaosResult) {
        self.result = result
    }

    var load: [ChaosOperation] { result.operations.filter { !$0.isFinalRead } }

    public func write() throws {
        let directory = result.directory
        try HistoryRecorder.jsonLines(result.operations).write(toFile: directory + "/history.jsonl", atomically: true, encoding: .utf8)
        try Data(ReportJSONText.text(document(), pretty: true).utf8).write(to: URL(fileURLWithPath: directory + "/report.json"))
        try markdown().write(toFile: directory + "/report.md", atomically: true, encoding: .utf8)
        try TimelineChart(result: result).svg().write(toFile: directory + "/timeline.svg", atomically: true, encoding: .utf8)
        if let example = counterexample?.counterexample {
            let ids = Set(example.map(\.id))
            let operations = result.operations.filter { ids.contains($0.id) }
            try HistoryRecorder.jsonLines(operations).write(
                toFile: directory + "/counterexample.jsonl", atomically: true, encoding: .utf8)
        }
    }

    // MARK: Figures

    struct Counts {
        var ok = 0
        var fail = 0
        var info = 0
        var total: Int { ok + fail + info }
        var availability: Double { total == 0 ? 0 : Double(ok) / Double(total) }

        init(_ operations: [ChaosOperation]) {
            for operation in operations {
                switch operation.outcome {
                case .ok: ok += 1
                case .fail: fail += 1
                case .info: info += 1
                }
            }
        }
    }

    struct Window {
        var label: String
        var kind: String
        var start: Double
        var end: Double
        var operations: [ChaosOperation]
        var counts: Counts { Counts(operations) }

        /// Latency percentiles of the operations with an answer (ok), in milliseconds.
        var latency: (p50: Double, p99: Double, max: Double)? {
            let values = operations.filter { $0.outcome.type == "ok" }.map { Double($0.latencyNanoseconds) / 1e6 }.sorted()
            guard !values.isEmpty else { return nil }
            func at(_ q: Double) -> Double { values[min(values.count - 1, Int((Double(values.count - 1) * q).rounded()))] }
            return (at(0.5), at(0.99), values.last!)
        }
    }

    /// One window per fault (its start to the cluster's recovery after it,
    /// or its end if it never recovered), and one for the calm outside them.
    var windows: [Window] {
        var windows: [Window] = []
        var inFault = Set<Int>()
        for fault in result.faults {
            let end = fault.recovered ?? fault.end ?? result.loadSeconds
            let operations = load.filter {
                let at = Double($0.invokedAt) / 1e9
                return at >= fault.start && at < end
            }
            inFault.formUnion(operations.map(\.id))
            windows.append(Window(
                label: label(fault), kind: fault.kind.rawValue, start: fault.start, end: end, operations: operations))
        }
        let calm = load.filter { !inFault.contains($0.id) }
        windows.insert(Window(label: "no fault in force", kind: "calm", start: 0, end: result.loadSeconds, operations: calm), at: 0)
        return windows
    }

    func label(_ fault: FaultRecord) -> String {
        let leader = fault.wasLeader ? " (leader)" : ""
        switch fault.kind {
        case .kill: return "kill node \(fault.node)\(leader)"
        case .pause: return "pause node \(fault.node)\(leader)"
        case .powerCut: return "power cut node \(fault.node)\(leader)"
        case .partition: return "partition \(fault.shape?.rawValue ?? ""): \(fault.detail)"
        }
    }

    var counterexample: LinearizabilityChecker.KeyResult? {
        result.checker?.keys.first { $0.verdict == .notLinearizable && $0.counterexample != nil }
    }

    var lostCount: Int { Set(result.endChecks.lostAcknowledgedWrites.map(\.operation)).count }

    // MARK: report.json

    func document() -> JSONValue {
        let counts = Counts(load)
        let options = result.options
        var document: [String: JSONValue] = [
            "verdict": JSONValue(result.verdict.rawValue),
            "passed": JSONValue(result.passed),
            "ops": JSONValue(["ok": JSONValue(counts.ok), "fail": JSONValue(counts.fail), "info": JSONValue(counts.info)]),
            "availability": JSONValue(rounded(counts.availability, 4)),
            "lost_acknowledged_writes": JSONValue(lostCount),
            "checker_seconds": JSONValue(rounded(result.checker?.seconds ?? 0, 3)),
            "faults": .array(result.faults.map { fault in
                var entry: [String: JSONValue] = [
                    "kind": JSONValue(fault.kind.rawValue), "node": JSONValue(fault.node), "nodes": JSONValue(fault.nodes),
                    "was_leader": JSONValue(fault.wasLeader), "detail": JSONValue(fault.detail),
                    "start_s": JSONValue(rounded(fault.start, 3)),
                    "end_s": fault.end.map { JSONValue(rounded($0, 3)) } ?? .null,
                    "recovered_s": fault.recovered.map { JSONValue(rounded($0, 3)) } ?? .null,
                ]
                if let shape = fault.shape { entry["shape"] = JSONValue(shape.rawValue) }
                return JSONValue(entry)
            }),
            "latency_by_window": .array(windows.map { window in
                let counts = window.counts
                var entry: [String: JSONValue] = [
                    "window": JSONValue(window.label), "kind": JSONValue(window.kind),
                    "start_s": JSONValue(rounded(window.start, 3)), "end_s": JSONValue(rounded(window.end, 3)),
                    "ops": JSONValue(["ok": JSONValue(counts.ok), "fail": JSONValue(counts.fail), "info": JSONValue(counts.info)]),
                    "availability": JSONValue(rounded(counts.availability, 4)),
                ]
                if let latency = window.latency {
                    entry["latency_ms"] = JSONValue([
                        "p50": JSONValue(rounded(latency.p50, 3)), "p99": JSONValue(rounded(latency.p99, 3)),
                        "max": JSONValue(rounded(latency.max, 3)),
                    ])
                }
                return JSONValue(entry)
            }),
            "operations_by_call": JSONValue(byCall().mapValues { JSONValue($0.mapValues { JSONValue($0) }) }),
            "run": JSONValue([
                "command": JSONValue(result.command), "log_backend": JSONValue(options.logBackend),
                "state_backend": JSONValue(options.stateBackend), "nodes": JSONValue(options.nodes),
                "clients": JSONValue(options.clients), "keys": JSONValue(options.keys), "duration_s": JSONValue(options.duration),
                "load_seconds": JSONValue(rounded(result.loadSeconds, 3)), "rate": JSONValue(options.rate),
                "seed": JSONValue(options.seed), "fault_interval_s": JSONValue(options.faultInterval),
                "faults": JSONValue(options.faults.map(\.rawValue)), "broken_strong_reads": JSONValue(options.breakStrongReads),
                "sync": JSONValue(result.config.storage.sync), "snapshot_entries": JSONValue(result.config.engine.snapshotEntries),
            ]),
            "end_checks": endChecksDocument(),
        ]
        if let checker = result.checker {
            document["checker_keys"] = .array(checker.keys.map { key in
                var entry: [String: JSONValue] = [
                    "key": JSONValue(key.key), "verdict": JSONValue(key.verdict.rawValue), "operations": JSONValue(key.operations),
                    "indeterminate": JSONValue(key.indeterminate), "seconds": JSONValue(rounded(key.seconds, 3)),
                ]
                if let explanation = key.explanation { entry["explanation"] = JSONValue(explanation) }
                return JSONValue(entry)
            })
        }
        if let error = result.checkerError { document["checker_error"] = JSONValue(error) }
        if let example = counterexample, let operations = example.counterexample {
            document["counterexample"] = JSONValue([
                "key": JSONValue(example.key), "minimal": JSONValue(example.counterexampleIsMinimal),
                "explanation": JSONValue(example.explanation ?? ""),
                "operations": .array(operations.map { describe($0) }),
            ])
        }
        return JSONValue(document)
    }

    func endChecksDocument() -> JSONValue {
        let checks = result.endChecks
        return JSONValue([
            "passed": JSONValue(checks.passed),
            "converged": JSONValue(checks.converged),
            "convergence_seconds": checks.convergenceSeconds.map { JSONValue(rounded($0, 3)) } ?? .null,
            "stuck_nodes": JSONValue(checks.stuckNodes),
            "unexpected_exits": checks.unexpectedExits.map { JSONValue($0) } ?? .null,
            "identical_state": JSONValue(checks.identicalState),
            "state_digests": JSONValue(Dictionary(uniqueKeysWithValues: checks.digests.map { (String($0.key), JSONValue($0.value)) })),
            "digest_applied_index": checks.digestIndex.map { JSONValue($0) } ?? .null,
            "divergent_keys": JSONValue(checks.divergentKeys),
            "lost_writes": .array(checks.lostAcknowledgedWrites.map {
                JSONValue([
                    "op": JSONValue($0.operation), "key": JSONValue($0.key), "node": JSONValue($0.node),
                    "final_state": JSONValue($0.finalState),
                ])
            }),
        ])
    }

    /// Operations per call name and outcome ("ok", "ok_conflict", "ok_absent", "fail", "info").
    func byCall() -> [String: [String: Int]] {
        var table: [String: [String: Int]] = [:]
        for operation in load {
            let name = HistoryRecorder.name(of: operation.call)
            let outcome: String
            switch operation.outcome {
            case .ok(let result):
                switch result {
                case .conflict: outcome = "ok_conflict"
                case .notFound, .absent: outcome = "ok_absent"
                default: outcome = "ok"
                }
            case .fail: outcome = "fail"
            case .info: outcome = "info"
            }
            table[name, default: [:]][outcome, default: 0] += 1
        }
        return table
    }

    func describe(_ operation: RegisterOperation) -> JSONValue {
        var entry: [String: JSONValue] = [
            "op": JSONValue(operation.id), "client": JSONValue(operation.client),
            "call": JSONValue(HistoryRecorder.name(of: operation.call)),
            "invoked_ms": JSONValue(rounded(Double(operation.invokedAt) / 1e6, 3)),
            "completed_ms": operation.completedAt.map { JSONValue(rounded(Double($0) / 1e6, 3)) } ?? .null,
        ]
        if let value = operation.call.writtenValue { entry["value"] = JSONValue(value) }
        if case .compareAndSet(let expected, _) = operation.call { entry["expected_version"] = JSONValue(expected) }
        entry.merge(HistoryRecorder.describe(operation.result)) { _, new in new }
        return JSONValue(entry)
    }

    func rounded(_ value: Double, _ digits: Int) -> Double {
        let scale = pow(10, Double(digits))
        return (value * scale).rounded() / scale
    }

    // MARK: report.md

    func markdown() -> String {
        let counts = Counts(load)
        let options = result.options
        let checks = result.endChecks
        var lines: [String] = []
        let backend = options.logBackend == options.stateBackend ? options.logBackend : "log \(options.logBackend), state \(options.stateBackend)"
        lines.append("# raftlab chaos: \(backend), \(options.nodes) nodes, seed \(options.seed)")
        lines.append("")
        lines.append("**Verdict: \(result.verdict.rawValue)**\(result.passed ? "" : " — run FAILED") · end checks \(checks.passed ? "passed" : "FAILED") · lost acknowledged writes: \(lostCount)")
        lines.append("")
        lines.append("Reproduce: `\(result.command)`")
        lines.append("")
        lines.append("| | |")
        lines.append("|---|---|")
        lines.append("| load | \(options.clients) clients, \(options.keys) keys, \(String(format: "%.1f", result.loadSeconds)) s\(options.rate > 0 ? ", at most \(Int(options.rate)) ops/s" : "") |")
        lines.append("| operations | \(counts.total): ok \(counts.ok), fail \(counts.fail), info \(counts.info) |")
        lines.append("| availability | \(String(format: "%.1f", counts.availability * 100)) % of operations succeeded |")
        lines.append("| faults | \(result.faults.count): \(faultSummary()) |")
        lines.append("| checker | \(String(format: "%.2f", result.checker?.seconds ?? 0)) s for \(load.compactMap(\.checkerOperation).count + result.operations.filter(\.isFinalRead).count) operations on \(options.keys) keys |")
        lines.append("| storage | log \(options.logBackend), state \(options.stateBackend), sync \(result.config.storage.sync ? "on" : "off"), snapshot every \(result.config.engine.snapshotEntries) entries |")
        if options.breakStrongReads {
            lines.append("| build | DELIBERATELY BROKEN: strong reads served locally without ReadIndex |")
        }
        lines.append("")
        lines.append("`ok` has an answer (a compare-and-set that found another version and a delete that found nothing count: the cluster answered); `fail` certainly did not happen (503, a redirect with no leader, a refused connection); `info` may or may not have happened (504 `outcome_unknown`, a lost connection or timeout that retries with the same Idempotency-Key could not resolve within \(options.operationDeadline)).")
        lines.append("")
        lines.append("## Operations by call")
        lines.append("")
        lines.append("| call | ok | ok (conflict / absent) | fail | info |")
        lines.append("|---|---:|---:|---:|---:|")
        for (name, t) in byCall().sorted(by: { $0.key < $1.key }) {
            lines.append("| \(name) | \(t["ok"] ?? 0) | \((t["ok_conflict"] ?? 0) + (t["ok_absent"] ?? 0)) | \(t["fail"] ?? 0) | \(t["info"] ?? 0) |")
        }
        lines.append("")
        lines.append("## Faults and latency by window")
        lines.append("")
        lines.append("Each fault's window runs from its start to the moment every node had caught up again after it was undone. Latency is invocation to final answer of the operations that succeeded, retries included.")
        lines.append("")
        lines.append("| window | start s | undone s | recovered s | ops | ok | fail | info | availability | p50 ms | p99 ms | max ms |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        let faults = result.faults
        for (index, window) in windows.enumerated() {
            let c = window.counts
            let fault = index == 0 ? nil : faults[index - 1]
            let latency = window.latency
            func ms(_ v: Double?) -> String { v.map { String(format: "%.1f", $0) } ?? "–" }
            lines.append(
                "| \(window.label.replacingOccurrences(of: "|", with: "\\|")) | \(fault.map { String(format: "%.1f", $0.start) } ?? "–") | \(fault?.end.map { String(format: "%.1f", $0) } ?? "–") | \(fault?.recovered.map { String(format: "%.1f", $0) } ?? (fault == nil ? "–" : "never")) | \(c.total) | \(c.ok) | \(c.fail) | \(c.info) | \(String(format: "%.1f", c.availability * 100)) % | \(ms(latency?.p50)) | \(ms(latency?.p99)) | \(ms(latency?.max)) |")
        }
        let restarts = faults.filter { $0.kind == .kill || $0.kind == .powerCut }
        if !restarts.isEmpty { lines.append("") }
        for fault in restarts {
            lines.append("- \(label(fault)) at \(String(format: "%.1f", fault.start)) s: \(fault.detail)")
        }
        lines.append("")
        lines.append("## End checks (after healing every fault)")
        lines.append("")
        lines.append("- converged (one leader; every node applied its commit index): \(checks.converged ? "yes, in \(String(format: "%.1f", checks.convergenceSeconds ?? 0)) s" : "NO")")
        lines.append("- stuck nodes: \(checks.stuckNodes.isEmpty ? "none" : checks.stuckNodes.map(String.init).joined(separator: ", "))")
        lines.append("- node processes that exited on their own: \(checks.unexpectedExits == nil ? "none" : "YES:\n\n```\n\(checks.unexpectedExits!)\n```")")
        lines.append("- state stores identical on every node: \(checks.identicalState ? "yes" : "NO") (digests at applied index \(checks.digestIndex.map(String.init) ?? "?"): \(checks.digests.sorted { $0.key < $1.key }.map { "node \($0.key) \($0.value.prefix(16))" }.joined(separator: ", ")))")
        lines.append("- every acknowledged write reflected on every node: \(checks.lostAcknowledgedWrites.isEmpty ? "yes" : "NO, \(lostCount) lost")")
        for lost in checks.lostAcknowledgedWrites.prefix(20) {
            lines.append("  - op \(lost.operation) on \(lost.key): node \(lost.node) ends with \(lost.finalState)")
        }
        if !checks.divergentKeys.isEmpty { lines.append("- keys that differ between nodes: \(checks.divergentKeys.joined(separator: ", "))") }
        lines.append("")
        lines.append("## Linearizability")
        lines.append("")
        if let error = result.checkerError { lines.append("The history could not be checked: \(error)") }
        if let checker = result.checker {
            lines.append("Wing–Gong search with memoized configurations, per key; operations with unknown outcomes may take effect at any time after their invocation, or never.")
            lines.append("")
            lines.append("| key | verdict | operations | unknown outcome | seconds |")
            lines.append("|---|---|---:|---:|---:|")
            for key in checker.keys {
                lines.append("| \(key.key) | \(key.verdict.rawValue) | \(key.operations) | \(key.indeterminate) | \(String(format: "%.3f", key.seconds)) |")
            }
            for key in checker.keys where key.verdict != .linearizable {
                lines.append("")
                lines.append("Key \(key.key): \(key.explanation ?? "")")
            }
        }
        if let example = counterexample, let operations = example.counterexample {
            lines.append("")
            lines.append("### Counterexample on key \(example.key) (\(example.counterexampleIsMinimal ? "minimal: removing any one operation makes it linearizable" : "reduced; shrinking ran out of time"))")
            lines.append("")
            lines.append("| op | client | call | invoked ms | completed ms | result |")
            lines.append("|---:|---:|---|---:|---:|---|")
            for operation in operations.sorted(by: { $0.invokedAt < $1.invokedAt }) {
                var call = HistoryRecorder.name(of: operation.call)
                if let value = operation.call.writtenValue { call += " \(value)" }
                if case .compareAndSet(let expected, _) = operation.call { call += " if version \(expected)" }
                let completed = operation.completedAt.map { String(format: "%.1f", Double($0) / 1e6) } ?? "never"
                lines.append("| \(operation.id) | \(operation.client) | \(call) | \(String(format: "%.1f", Double(operation.invokedAt) / 1e6)) | \(completed) | \(resultText(operation.result)) |")
            }
            lines.append("")
            lines.append("The operations are in `counterexample.jsonl`; the whole history in `history.jsonl`.")
        }
        lines.append("")
        lines.append("Timeline: `timeline.svg` (operations per client over time, fault windows shaded, latency below).")
        return lines.joined(separator: "\n") + "\n"
    }

    func faultSummary() -> String {
        var counts: [String: Int] = [:]
        for fault in result.faults { counts[fault.shape.map { "partition \($0.rawValue)" } ?? fault.kind.rawValue, default: 0] += 1 }
        return counts.isEmpty ? "none" : counts.sorted { $0.key < $1.key }.map { "\($0.value) × \($0.key)" }.joined(separator: ", ")
    }

    func resultText(_ result: RegisterResult) -> String {
        switch result {
        case let .value(value, version): "read \(value) at version \(version)"
        case .absent: "read: absent"
        case .written(let version): "written at version \(version)"
        case .conflict: "conflict"
        case let .deleted(value, version): "deleted \(value) (version \(version))"
        case .notFound: "not found"
        case .unknown: "unknown outcome"
        }
    }
}
