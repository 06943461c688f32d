import Foundation

/// Raw per-operation latencies kept by a `LatencyRecorder`, tagged with the
/// result they belong to, for `latency.csv`.
public struct RawLatencySamples: Sendable, Equatable {
    public enum Metric: String, Sendable {
        case writeLatency = "write_latency"
        case replicationLag = "replication_lag"
    }

    public var key: ResultKey
    public var metric: Metric
    /// Microseconds, in recording order.
    public var samplesUs: [Double]

    public init(key: ResultKey, metric: Metric = .writeLatency, samplesUs: [Double]) {
        self.key = key
        self.metric = metric
        self.samplesUs = samplesUs
    }

    /// The samples `recorder` kept for `result`.
    public init(result: BenchResult, metric: Metric = .writeLatency, recorder: LatencyRecorder) {
        self.init(key: result.key, metric: metric, samplesUs: recorder.rawSamplesUs)
    }
}

/// `latency.csv`: every latency of a run in one tidy (long) table, one
/// observation per row, ready for a spreadsheet, R or pandas without
/// reshaping:
///
///     backend,sync,nodes,value_size,concurrency,workload,load,metric,statistic,seq,value_us
///     lmdb/lmdb,true,3,128,8,write,closed,write_latency,p50,,812.000
///     lmdb/lmdb,true,3,128,8,a,closed,read_latency,p99,,95.000
///     lmdb/lmdb,true,3,128,8,write,closed,recovery,failover,,153000.000
///     lmdb/lmdb,true,3,128,8,write,closed,write_latency,sample,0,790.125
///
/// - `backend` is "log/state"; `sync` is true/false; `workload` is "write" or
///   a YCSB letter; `load` is "closed" or "open".
/// - `metric` is `write_latency`, `read_latency`, `scan_latency`,
///   `replication_lag` or `recovery`.
/// - `statistic` is a percentile (`p50`, `p90`, `p99`, `p999`) or `max` for the
///   latency metrics; the phase (`restart`, `catch_up`,
///   `snapshot_install`, `failover`) for recovery; `sample` for a raw
///   per-operation sample, with `seq` its position in recording order (`seq`
///   is empty on every other row).
/// - `value_us` is microseconds with three decimals (nanosecond precision).
/// - A value that was not measured has no row (rather than an empty cell).
/// - Rows follow the report's result order, summaries before samples.
public enum LatencyCSV {
    public static let fileName = "latency.csv"
    public static let header = ["backend", "sync", "nodes", "value_size", "concurrency", "workload", "load",
                                "metric", "statistic", "seq", "value_us"]

    public static func render(_ report: BenchReport, samples: [RawLatencySamples] = []) -> String {
        var lines = [header.joined(separator: ",")]
        func row(_ key: ResultKey, _ metric: String, _ statistic: String, _ seq: Int?, _ value: Double?) {
            guard let value, value.isFinite else { return }
            let fields = [
                key.series.backend.description, key.series.sync ? "true" : "false", String(key.series.nodes),
                String(key.series.valueSize), String(key.concurrency), key.scenario.workload, key.scenario.load,
                metric, statistic,
                seq.map(String.init) ?? "", String(format: "%.3f", value),
            ]
            lines.append(fields.map(escape).joined(separator: ","))
        }
        for result in report.results {
            let key = result.key
            if let write = result.writeLatencyUs {
                for (statistic, value) in [("p50", write.p50), ("p90", write.p90), ("p99", write.p99),
                                           ("p999", write.p999), ("max", write.max)] {
                    row(key, "write_latency", statistic, nil, value)
                }
            }
            for (metric, summary) in [("read_latency", result.readLatencyUs), ("scan_latency", result.scanLatencyUs)] {
                guard let summary else { continue }
                for (statistic, value) in [("p50", summary.p50), ("p99", summary.p99), ("max", summary.max)] {
                    row(key, metric, statistic, nil, value)
                }
            }
            let lag = result.replicationLagUs
            for (statistic, value) in [("p50", lag.p50), ("p99", lag.p99), ("max", lag.max)] {
                row(key, "replication_lag", statistic, nil, value)
            }
            let recovery = result.recovery
            for (statistic, value) in [("restart", recovery.restartUs), ("catch_up", recovery.catchUpUs),
                                       ("snapshot_install", recovery.snapshotInstallUs),
                                       ("failover", recovery.failoverUs)] {
                row(key, "recovery", statistic, nil, value)
            }
        }
        for set in samples {
            for (seq, value) in set.samplesUs.enumerated() {
                row(set.key, set.metric.rawValue, "sample", seq, value)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// RFC 4180 quoting, only where needed (a backend name with a comma).
    static func escape(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
