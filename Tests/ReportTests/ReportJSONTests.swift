import Foundation
import NoSQL
import Testing
@testable import RaftLabReport
import StorageCore

/// The shape report.json must have: the issue's schema, key for key.
private indirect enum Shape: Sendable {
    case value
    /// Any JSON (a config option's value may be a list or a nested table).
    case any
    case object([String: Shape])
    case array(Shape)
}

private let resultShape = Shape.object([
    "backend": .object(["log": .value, "state": .value]),
    "sync": .value, "nodes": .value, "concurrency": .value, "value_size": .value, "ops": .value,
    "throughput_ops_s": .value,
    "write_latency_us": .object(["p50": .value, "p90": .value, "p99": .value, "p999": .value, "max": .value]),
    "replication_lag_us": .object(["p50": .value, "p99": .value, "max": .value]),
    "recovery": .object(["entries": .value, "restart_us": .value, "catch_up_us": .value,
                         "snapshot_install_us": .value, "failover_us": .value, "restart_path": .value,
                         "catch_up_entries": .value]),
    "disk_bytes": .value, "write_amplification": .value, "syncs_per_write": .value,
    // The issue's fixed additions...
    "workload": .value, "distribution": .value, "load": .value, "target_rate": .value, "errors": .value,
    "timeouts": .value, "read_latency_us": .value, "scan_latency_us": .value, "syncs_per_write_reported": .value,
    // ...and what else a row records (null when not measured).
    "state_sync": .value, "read_consistency": .value, "persistent": .value, "sync_calls": .value,
    "writes": .value, "reads": .value, "scans": .value, "measured_s": .value, "log_compactions": .value,
    "repetitions": .value, "spread": .value,
])

private func schema(configKeys: [String]) -> Shape {
    .object([
        "raftlab_version": .value,
        "started_at": .value,
        "machine": .object(["cores": .value, "memory_bytes": .value, "os": .value]),
        "floor": .object(["fdatasync_us": .value, "loopback_rtt_us": .value, "quorum_fdatasync_us": .value]),
        "config": .object(Dictionary(uniqueKeysWithValues: configKeys.map { ($0, Shape.any) })),
        "results": .array(resultShape),
        "peak_rss_bytes": .value,
    ])
}

/// Differences between a decoded JSON value and the expected shape, as key paths.
private func mismatches(_ json: Any, _ shape: Shape, at path: String = "$") -> [String] {
    switch shape {
    case .any:
        return []
    case .value:
        return json is [String: Any] || json is [Any] ? ["\(path): expected a scalar or null"] : []
    case let .object(keys):
        guard let object = json as? [String: Any] else { return ["\(path): expected an object"] }
        var found: [String] = []
        let extra = Set(object.keys).subtracting(keys.keys), missing = Set(keys.keys).subtracting(object.keys)
        found += extra.sorted().map { "\(path).\($0): unexpected key" }
        found += missing.sorted().map { "\(path).\($0): missing key" }
        for (key, inner) in keys { if let value = object[key] { found += mismatches(value, inner, at: "\(path).\(key)") } }
        return found
    case let .array(inner):
        guard let array = json as? [Any] else { return ["\(path): expected an array"] }
        return array.enumerated().flatMap { mismatches($1, inner, at: "\(path)[\($0)]") }
    }
}

@Suite("report.json")
struct ReportJSONTests {
    @Test func encodesExactlyTheSchemaKeySetIncludingNulls() throws {
        let report = Fixtures.report()
        let data = try ReportJSON.encode(report)
        let json = try JSONSerialization.jsonObject(with: data)
        // Config keys are the effective options, nested values are values of those keys.
        #expect(mismatches(json, schema(configKeys: report.config.keys)) == [])

        // Nulls are written, not omitted: memory has no restart, disk, amplification or syncs.
        let results = try #require((json as? [String: Any])?["results"] as? [[String: Any]])
        let memory = results[0]
        #expect(memory["disk_bytes"] is NSNull)
        #expect(memory["write_amplification"] is NSNull)
        #expect(memory["syncs_per_write"] is NSNull)
        #expect((memory["recovery"] as? [String: Any])?["restart_us"] is NSNull)
        // A phase that was not run at all still lists every key.
        let notRun = results[4]["recovery"] as? [String: Any]
        #expect(notRun?.count == 7)
        #expect(notRun?.values.allSatisfy { $0 is NSNull } == true)
        #expect((results[7]["replication_lag_us"] as? [String: Any])?["p99"] is NSNull)
        #expect(((json as? [String: Any])?["config"] as? [String: Any])?["seed"] is NSNull)
    }

    @Test func isPrettyPrintedWithSortedKeys() throws {
        let text = String(decoding: try ReportJSON.encode(Fixtures.report()), as: UTF8.self)
        #expect(text.contains("\n  \"config\""))
        let top = ["config", "floor", "machine", "raftlab_version", "results", "started_at"]
        let positions = top.map { text.range(of: "\n  \"\($0)\"")!.lowerBound }
        #expect(positions == positions.sorted())
        #expect(text.contains("\"failover_us\" : null") || text.contains("\"failover_us\": null"))
    }

    @Test func roundTripsThroughAFile() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { Fixtures.remove(directory) }
        let report = Fixtures.report()
        let path = try ReportJSON.write(report, toDirectory: directory)
        #expect(path.hasSuffix("/report.json"))
        #expect(try ReportJSON.read(from: directory) == report)
        #expect(try ReportJSON.read(from: path) == report)
        // The decoded config keeps every value, nested objects and nulls included.
        let decoded = try ReportJSON.read(from: path)
        #expect(decoded.config["raft"] == ["election_timeout_ms": 300, "heartbeat_ms": 50])
        #expect(decoded.config["seed"] == .null)
        #expect(decoded.config["backends"] == ["memory", "flatfile", "lmdb", "leveldb"])
    }

    @Test func numbersKeepTheirTypeAndValue() throws {
        var report = Fixtures.report()
        let big = JSONValue.number(JSONNumber(Int64(9_007_199_254_740_993)))
        let ratio = JSONValue.number(try #require(JSONNumber(0.25)))
        report.config = ["ratio": ratio, "big": big, "flag": false, "name": "x"]
        let data = try ReportJSON.encode(report)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains(#""big" : 9007199254740993,"#))
        #expect(text.contains("\"ratio\" : 0.25\n"))
        let decoded = try ReportJSON.decode(data, path: "mem")
        #expect(decoded.config["big"] == big)
        #expect(decoded.config["ratio"] == ratio)
        #expect(decoded.config["flag"] == .bool(false))
        #expect(decoded.config["name"] == .string("x"))
    }

    /// The config held `Int64` and `Double` cases of its own before it took the
    /// shared JSONValue: numbers must print as the encoder printed those.
    @Test func configNumbersPrintAsTheEncoderPrintsIntegersAndDoubles() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let doubles: [Double] = [0.25, 0.1, -7.5, 2.0, 0, 123.456, 1e-05, 3.0e-7, 1.5e300, 1e20, -2.5e-300, 0.30000000000000004]
        for value in doubles {
            let shared = try #require(JSONNumber(value))
            let expected = String(decoding: try encoder.encode(["x": value]), as: UTF8.self)
            #expect(String(decoding: try encoder.encode(["x": JSONValue.number(shared)]), as: UTF8.self) == expected, "\(value)")
            // What the report wrote reads back to the same number.
            let decoded = try JSONDecoder().decode([String: JSONValue].self, from: Data(expected.utf8))
            #expect(decoded["x"] == .number(shared), "\(value)")
        }
        let integers: [Int64] = [0, 1, -1, 9_007_199_254_740_993, .max, .min]
        for value in integers {
            let expected = String(decoding: try encoder.encode(["x": value]), as: UTF8.self)
            #expect(String(decoding: try encoder.encode(["x": JSONValue.number(JSONNumber(value))]), as: UTF8.self) == expected)
            let decoded = try JSONDecoder().decode([String: JSONValue].self, from: Data(expected.utf8))
            #expect(decoded["x"]?.numberValue?.int64Value == value)
        }
        let unsigned = UInt64.max
        let text = String(decoding: try encoder.encode(["x": JSONValue.number(JSONNumber(unsigned))]), as: UTF8.self)
        #expect(text == #"{"x":18446744073709551615}"#)
        #expect(try JSONDecoder().decode([String: JSONValue].self, from: Data(text.utf8))["x"]?.numberValue?.uint64Value == unsigned)
        // Tables print them as the report did: integers as digits, fractions as Swift prints the Double.
        #expect(JSONValue.number(JSONNumber(Int64(9_007_199_254_740_993))).reportText == "9007199254740993")
        #expect(JSONValue.number(try #require(JSONNumber(0.25))).reportText == "0.25")
        #expect(JSONValue.number(try #require(JSONNumber(1e-05))).reportText == "1e-05")
        #expect(JSONValue.number(try #require(JSONNumber(1e20))).reportText == "1e+20")
        let nested: JSONValue = ["b": [1, "two", nil], "a": true]
        #expect(nested.reportText == #"{"a": true, "b": [1, "two", null]}"#)
    }

    /// A report written before this build, committed under results/reference/,
    /// must still decode, and encode back to the very same bytes.
    @Test func committedReferenceReportDecodesAndReencodesByteForByte() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../results/reference/report.json").standardizedFileURL.path
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let report = try ReportJSON.decode(data, path: path)
        #expect(!report.config.isEmpty && !report.results.isEmpty)
        #expect(report.config["label"] == "reference")
        let encoded = try ReportJSON.encode(report, path: path)
        #expect(String(decoding: encoded, as: UTF8.self) == String(decoding: data, as: UTF8.self))
        #expect(try ReportJSON.decode(encoded, path: path) == report)
    }

    @Test func corruptFileGivesATypedErrorNamingTheFile() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { Fixtures.remove(directory) }
        let path = directory + "/report.json"
        try Data("{ \"raftlab_version\": \"0.1\", ".utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try ReportJSON.read(from: directory)
            Issue.record("a truncated report was accepted")
        } catch let error as ReportFileError {
            guard case let .invalid(errorPath, _) = error else {
                Issue.record("expected .invalid, got \(error)")
                return
            }
            #expect(errorPath == path)
            #expect(error.description.contains(path))
        }
    }

    @Test("a read-only row keeps write_latency_us's keys, with null percentiles, and reads back as unmeasured")
    func readOnlyRowKeepsWriteLatencyKeys() throws {
        var report = Fixtures.report()
        report.results[2].writeLatencyUs = nil
        let json = try #require(try JSONSerialization.jsonObject(with: ReportJSON.encode(report)) as? [String: Any])
        #expect(mismatches(json, schema(configKeys: report.config.keys)) == [])
        let results = try #require(json["results"] as? [[String: Any]])
        let latency = try #require(results[2]["write_latency_us"] as? [String: Any])
        #expect(latency.count == 5 && latency.values.allSatisfy { $0 is NSNull })
        let decoded = try ReportJSON.decode(try ReportJSON.encode(report), path: "r/report.json")
        #expect(decoded.results[2].writeLatencyUs == nil)
        #expect(decoded.results[1].writeLatencyUs == report.results[1].writeLatencyUs)
    }

    @Test func wrongTypeNamesTheKeyPath() throws {
        var json = try #require(try JSONSerialization.jsonObject(with: ReportJSON.encode(Fixtures.report())) as? [String: Any])
        var results = try #require(json["results"] as? [[String: Any]])
        var latency = try #require(results[2]["write_latency_us"] as? [String: Any])
        latency["p99"] = "fast"
        results[2]["write_latency_us"] = latency
        json["results"] = results
        let data = try JSONSerialization.data(withJSONObject: json)
        let error = #expect(throws: ReportFileError.self) { try ReportJSON.decode(data, path: "runs/a/report.json") }
        #expect(error?.path == "runs/a/report.json")
        #expect(error?.description.contains("results[2].write_latency_us.p99: expected a number") == true)
    }

    @Test func missingKeyIsNamed() throws {
        var json = try #require(try JSONSerialization.jsonObject(with: ReportJSON.encode(Fixtures.report())) as? [String: Any])
        json["floor"] = nil
        let data = try JSONSerialization.data(withJSONObject: json)
        let error = #expect(throws: ReportFileError.self) { try ReportJSON.decode(data, path: "x/report.json") }
        #expect(error?.description.contains("floor") == true)
        #expect(error?.description.contains("x/report.json") == true)
    }

    @Test func emptyOrNonObjectFilesSayWhatIsWrong() {
        let empty = #expect(throws: ReportFileError.self) { try ReportJSON.decode(Data(), path: "e/report.json") }
        #expect(empty == .invalid(path: "e/report.json", reason: "the file is empty"))
        let array = #expect(throws: ReportFileError.self) { try ReportJSON.decode(Data("[1]".utf8), path: "a") }
        #expect(array == .invalid(path: "a", reason: "the top level: expected an object"))
        let garbage = #expect(throws: ReportFileError.self) { try ReportJSON.decode(Data("{\"a\": ".utf8), path: "g") }
        #expect(garbage?.description.hasPrefix("g is not a valid RaftLab report: not valid JSON") == true)
    }

    @Test func missingFileIsUnreadable() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { Fixtures.remove(directory) }
        let error = #expect(throws: ReportFileError.self) { try ReportJSON.read(from: directory) }
        #expect(error == .unreadable(path: directory + "/report.json", reason: "no such file"))
    }

    @Test func nonFiniteMeasurementIsRefusedWithItsKeyPath() throws {
        var report = Fixtures.report()
        report.results[1].writeAmplification = .nan
        let error = #expect(throws: ReportFileError.self) { try ReportJSON.encode(report, path: "out/report.json") }
        #expect(error?.path == "out/report.json")
        #expect(error?.description.contains("write_amplification") == true)
    }

    @Test func backendNamesComeFromAStorageConfig() {
        let storage = StorageConfig(logBackend: "lmdb", stateBackend: "leveldb", dataDirectory: "/tmp/x")
        #expect(ReportBackend(storage) == ReportBackend(log: "lmdb", state: "leveldb"))
        #expect(ReportBackend(storage).description == "lmdb/leveldb")
    }

    @Test func timestampAndDefaultDirectory() {
        let date = Date(timeIntervalSince1970: 1_748_770_200)  // 2025-06-01T09:30:00Z
        #expect(BenchReport.timestamp(date) == "2025-06-01T09:30:00Z")
        #expect(BenchReport.defaultOutputDirectory(label: "lmdb vs/leveldb", date: date)
            == "results/2025-06-01-lmdb-vs-leveldb")
    }
}
