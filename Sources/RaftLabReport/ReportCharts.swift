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

        /// The scenario the latency, throughput and lag charts show: the
        /// write-only runs when there are any (the report's tables have the rest).
        let scenario: Scenario?

        init(report: BenchReport, label: String) {
            self.report = report
            self.label = label
            seriesKeys = Set(report.results.map(\.seriesKey)).sorted()
            labeler = SeriesLabeler(seriesKeys)
            palette = BackendPalette(seriesKeys)
            let shown = Set(report.results.map(\.scenario)).sorted().first
            scenario = shown
            concurrencies = Set(report.results.filter { $0.scenario == shown }.map(\.concurrency)).sorted()
        }

        /// " (write-only, uniform keys, closed loop)": which rows a chart shows.
        var scenarioNote: String { scenario.map { " (\($0.title))" } ?? "" }

        var legend: [(name: String, color: String)] {
            seriesKeys.map { (labeler.label($0), palette.color($0)) }
        }

        func result(_ series: SeriesKey, concurrency: Int) -> BenchResult? {
            report.results.first { $0.seriesKey == series && $0.concurrency == concurrency && $0.scenario == scenario }
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
            subtitle: "First attempt → final acknowledgement, per percentile\(c.scenarioNote). "
                + "fdatasync floor \(Format.micros(c.report.floor.fdatasyncUs)) µs.",
            legend: c.legend,
            panels: c.panels(
                title: "Write latency", categories: ["p50", "p90", "p99", "p99.9", "max"], xLabel: "percentile",
                yLabel: "latency (µs, log scale)", unit: "µs", scale: .log
            ) { r in
                guard let w = r.writeLatencyUs else { return [nil, nil, nil, nil, nil] }
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
            title: "Throughput: \(c.label)", subtitle: "Completed operations per second\(c.scenarioNote).",
            legend: c.legend, panels: c.concurrencies.isEmpty ? [] : [panel]
        ).render()
    }

    static func replicationLag(_ c: Context) -> String {
        BarChartFigure(
            title: "Replication lag: \(c.label)",
            subtitle: "Per write, leader commit → each follower's apply of the same index\(c.scenarioNote). "
                + "Loopback RTT floor \(Format.micros(c.report.floor.loopbackRttUs)) µs.",
            legend: c.legend,
            panels: c.panels(
                title: "Replication lag", categories: ["p50", "p99", "max"], xLabel: "percentile",
                yLabel: "lag (µs, log scale)", unit: "µs", scale: .log
            ) { r in [r.replicationLagUs.p50, r.replicationLagUs.p99, r.replicationLagUs.max] }
        ).render()
    }

    /// One panel: recovery is measured once per backend, whatever the concurrency.
    static func recovery(_ c: Context) -> String {
        let entries = Set(c.report.results.compactMap(\.recovery.entries)).sorted()
        let after = entries.isEmpty ? "" : " after \(entries.map(String.init).joined(separator: "/")) entries"
        let categories = ["restart", "catch-up", "snapshot install", "failover"]
        let series = c.seriesKeys.map { key in
            let recovery = c.report.results.first { $0.seriesKey == key && $0.recovery.entries != nil }?.recovery
            let values = [recovery?.restartUs, recovery?.catchUpUs, recovery?.snapshotInstallUs, recovery?.failoverUs]
            return ChartSeries(name: c.labeler.label(key), color: c.palette.color(key), values: values.map { $0.map { $0 / 1000 } })
        }
        let measured = series.contains { $0.values.contains { $0 != nil } }
        let panel = BarChartPanel(
            title: "Recovery, once per backend", categories: categories, series: series,
            xLabel: "recovery phase", yLabel: "time (ms, log scale)", scale: .log, unit: "ms")
        return BarChartFigure(
            title: "Recovery: \(c.label)",
            subtitle: "Time until the node serves again\(after): restart from its data directory, catch-up after "
                + "downtime, wiped node via InstallSnapshot, client-observed unavailability after the leader's crash.",
            legend: c.legend, panels: measured ? [panel] : []
        ).render()
    }
}
