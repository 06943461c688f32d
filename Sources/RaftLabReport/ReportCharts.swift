/// The four SVG charts of a run. Each exists whatever the run measured (a
/// chart with nothing to show says so), so the set of files in a results
/// directory is always the same.
public enum ReportCharts {
    public static let latencyFile = "latency.svg"
    public static let throughputFile = "throughput.svg"
    public static let replicationLagFile = "replication_lag.svg"
    public static let recoveryFile = "recovery.svg"

    /// File name → SVG text.
    public static func render(_ report: BenchReport, label: String) -> [(file: String, svg: String)] {
        let context = Context(report: report, label: label)
        return [
            (latencyFile, latency(context)),
            (throughputFile, throughput(context)),
            (replicationLagFile, replicationLag(context)),
            (recoveryFile, recovery(context)),
        ]
    }

    struct Context {
        let report: BenchReport
        let label: String
        let seriesKeys: [SeriesKey]
        let labeler: SeriesLabeler
        let palette: BackendPalette
        let concurrencies: [Int]

        init(report: BenchReport, label: String) {
            self.report = report
            self.label = label
            seriesKeys = Set(report.results.map(\.seriesKey)).sorted()
            labeler = SeriesLabeler(seriesKeys)
            palette = BackendPalette(seriesKeys)
            concurrencies = Set(report.results.map(\.concurrency)).sorted()
        }

        var legend: [(name: String, color: String)] {
            seriesKeys.map { (labeler.label($0), palette.color($0)) }
        }

        func result(_ series: SeriesKey, concurrency: Int) -> BenchResult? {
            report.results.first { $0.seriesKey == series && $0.concurrency == concurrency }
        }

        /// One panel per concurrency at which any of `metrics` was measured.
        func panels(
            title: String, categories: [String], xLabel: String, yLabel: String, unit: String,
            scale: ChartScale.Kind, metrics: (BenchResult) -> [Double?]
        ) -> [BarChartPanel] {
            concurrencies.compactMap { concurrency in
                let series = seriesKeys.map { key in
                    ChartSeries(
                        name: labeler.label(key), color: palette.color(key),
                        values: result(key, concurrency: concurrency).map(metrics)
                            ?? Array(repeating: nil, count: categories.count))
                }
                guard series.contains(where: { $0.values.contains { $0 != nil } }) else { return nil }
                return BarChartPanel(
                    title: "\(title), concurrency \(concurrency)", categories: categories, series: series,
                    xLabel: xLabel, yLabel: yLabel, scale: scale, unit: unit)
            }
        }
    }

    static func latency(_ c: Context) -> String {
        BarChartFigure(
            title: "Write latency: \(c.label)",
            subtitle: "Client submit → commit acknowledgement, per percentile. "
                + "fdatasync floor \(Format.micros(c.report.floor.fdatasyncUs)) µs.",
            legend: c.legend,
            panels: c.panels(
                title: "Write latency", categories: ["p50", "p90", "p99", "p99.9", "max"], xLabel: "percentile",
                yLabel: "latency (µs, log scale)", unit: "µs", scale: .log
            ) { r in
                let w = r.writeLatencyUs
                return [w.p50, w.p90, w.p99, w.p999, w.max]
            }
        ).render()
    }

    static func throughput(_ c: Context) -> String {
        let series = c.seriesKeys.map { key in
            ChartSeries(name: c.labeler.label(key), color: c.palette.color(key),
                        values: c.concurrencies.map { c.result(key, concurrency: $0)?.throughputOpsS })
        }
        let panel = BarChartPanel(
            title: "Throughput at each concurrency", categories: c.concurrencies.map(String.init), series: series,
            xLabel: "concurrent clients", yLabel: "throughput (ops/s)", scale: .linear, unit: "ops/s")
        return BarChartFigure(
            title: "Throughput: \(c.label)", subtitle: "Acknowledged writes per second.",
            legend: c.legend, panels: c.concurrencies.isEmpty ? [] : [panel]
        ).render()
    }

    static func replicationLag(_ c: Context) -> String {
        BarChartFigure(
            title: "Replication lag: \(c.label)",
            subtitle: "Per write, leader commit → each follower's apply of the same index. "
                + "Loopback RTT floor \(Format.micros(c.report.floor.loopbackRttUs)) µs.",
            legend: c.legend,
            panels: c.panels(
                title: "Replication lag", categories: ["p50", "p99", "max"], xLabel: "percentile",
                yLabel: "lag (µs, log scale)", unit: "µs", scale: .log
            ) { r in [r.replicationLagUs.p50, r.replicationLagUs.p99, r.replicationLagUs.max] }
        ).render()
    }

    static func recovery(_ c: Context) -> String {
        let entries = Set(c.report.results.compactMap(\.recovery.entries)).sorted()
        let after = entries.isEmpty ? "" : " after \(entries.map(String.init).joined(separator: "/")) entries"
        return BarChartFigure(
            title: "Recovery: \(c.label)",
            subtitle: "Time until the node serves again\(after): restart from its data directory, catch-up after "
                + "downtime, empty node via InstallSnapshot, leader failover.",
            legend: c.legend,
            panels: c.panels(
                title: "Recovery", categories: ["restart", "catch-up", "snapshot install", "failover"],
                xLabel: "recovery phase", yLabel: "time (ms, log scale)", unit: "ms", scale: .log
            ) { r in
                let t = r.recovery
                return [t.restartUs, t.catchUpUs, t.snapshotInstallUs, t.failoverUs].map { $0.map { $0 / 1000 } }
            }
        ).render()
    }
}
