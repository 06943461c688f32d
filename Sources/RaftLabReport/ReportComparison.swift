import Foundation

/// `raftlab report DIR...`: saved runs side by side, without re-running. For
/// every result row present in any run, each metric from each run in
/// adjacent columns and the relative change of the last run against the
/// first, so a before/after of a change reads directly. Each run's machine,
/// floor and the config options that differ are shown first: a 20% change
/// means little if the second run had a faster disk.
public struct ReportComparison: Sendable {
    public struct Run: Sendable {
        public var label: String
        /// The report file it came from.
        public var path: String
        public var report: BenchReport

        public init(label: String, path: String, report: BenchReport) {
            self.label = label
            self.path = path
            self.report = report
        }
    }

    public let runs: [Run]

    public init(runs: [Run]) {
        self.runs = Self.uniquelyLabelled(runs)
    }

    /// Loads `<dir>/report.json` from each directory (or a report file given
    /// directly), in the order given; the first is the baseline. Throws the
    /// first `ReportFileError`, which names the broken file.
    public static func load(_ paths: [String]) throws -> ReportComparison {
        try ReportComparison(runs: paths.map { path in
            let report = try ReportJSON.read(from: path)
            return Run(label: label(for: path, report: report), path: path, report: report)
        })
    }

    /// The run's label: its `label` config option if it has one, else the
    /// directory name (`results/2025-06-01-baseline` → "2025-06-01-baseline").
    static func label(for path: String, report: BenchReport) -> String {
        if case let .string(label)? = report.config["label"], !label.isEmpty { return label }
        var url = URL(fileURLWithPath: path).standardizedFileURL
        if url.lastPathComponent == ReportJSON.fileName { url.deleteLastPathComponent() }
        return url.lastPathComponent
    }

    private static func uniquelyLabelled(_ runs: [Run]) -> [Run] {
        var seen: [String: Int] = [:]
        return runs.map { run in
            var run = run
            let count = seen[run.label, default: 0] + 1
            seen[run.label] = count
            if count > 1 { run.label += " #\(count)" }
            return run
        }
    }

    // MARK: Rendering

    /// Markdown with padded columns: renders on GitHub, reads in a terminal.
    public func render() -> String {
        var out = "# RaftLab comparison: \(runs.map(\.label).joined(separator: " vs "))\n\n"
        out += runTable().render()
        for warning in fairnessWarnings() { out += "\n> \(warning)\n" }
        if let differences = configDifferences() {
            out += "\n## Config differences\n\n" + differences.render()
        }
        let keys = Set(runs.flatMap { $0.report.results.map(\.key) }).sorted()
        let labeler = SeriesLabeler(keys.map(\.series))
        if runs.count >= 2, !keys.isEmpty {
            out += "\n\"change\" is \(runs.last!.label) relative to \(runs.first!.label). "
            out += "Higher is better for ops/s, lower for everything else. n/a: not measured in that run.\n"
        }
        if keys.isEmpty { out += "\nNo results in any run.\n" }
        for key in keys {
            out += "\n## \(labeler.label(key.series)), concurrency \(key.concurrency): \(key.scenario.title)\n\n"
            out += resultTable(key).render()
        }
        return out
    }


    func runTable() -> MarkdownTable {
        var table = MarkdownTable(
            headers: ["run", "started", "version", "machine", "fdatasync floor", "quorum floor", "loopback RTT", "report"],
            alignments: [.left, .left, .left, .left, .right, .right, .right, .left])
        for run in runs {
            let r = run.report
            table.append([run.label, r.startedAt, r.raftlabVersion, MarkdownReport.machineLine(r.machine),
                          "\(Format.micros(r.floor.fdatasyncUs)) µs",
                          r.floor.quorumFdatasyncUs.map { "\(Format.micros($0)) µs" } ?? Format.missing,
                          "\(Format.micros(r.floor.loopbackRttUs)) µs",
                          run.path])
        }
        return table
    }

    func fairnessWarnings() -> [String] {
        guard let first = runs.first, runs.count >= 2 else { return [] }
        var warnings: [String] = []
        if runs.contains(where: { $0.report.machine != first.report.machine }) {
            warnings.append("The runs were measured on different machines: compare latencies as multiples "
                + "of each run's floor (the \"p50 × fdatasync\" row) rather than raw times.")
        }
        let floors = runs.map(\.report.floor.fdatasyncUs).filter { $0 > 0 }
        if let low = floors.min(), let high = floors.max(), high > low * 1.25 {
            warnings.append("The fdatasync floor differs by more than 25% between runs "
                + "(\(Format.micros(low)) to \(Format.micros(high)) µs): durable latencies are not directly comparable.")
        }
        return warnings
    }

    /// Config options whose value is not the same in every run (missing counts as different).
    func configDifferences() -> MarkdownTable? {
        guard runs.count >= 2 else { return nil }
        let configs = runs.map { Dictionary($0.report.config.flattened().map { ($0.key, $0.value) },
                                            uniquingKeysWith: { first, _ in first }) }
        var keys: [String] = []
        for run in runs { for entry in run.report.config.flattened() where !keys.contains(entry.key) {
            keys.append(entry.key)
        } }
        let differing = keys.filter { key in
            let values = configs.map { $0[key] }
            return !values.allSatisfy { $0 == values[0] }
        }
        guard !differing.isEmpty else { return nil }
        var table = MarkdownTable(headers: ["option"] + runs.map(\.label),
                                  alignments: [.left] + runs.map { _ in .left })
        for key in differing {
            table.append(["`\(key)`"] + configs.map { $0[key]?.reportText ?? Format.missing })
        }
        return table
    }

    func resultTable(_ key: ResultKey) -> MarkdownTable {
        let results = runs.map { run in run.report.results.first { $0.key == key } }
        var headers = ["metric"] + runs.map(\.label)
        if runs.count >= 2 { headers.append("change") }
        var table = MarkdownTable(headers: headers)
        for metric in Metric.all {
            let values = zip(runs, results).map { run, result in result.flatMap { metric.value($0, run.report.floor) } }
            // A metric no run has for this row (reads of a write-only workload) is left out.
            guard values.contains(where: { $0 != nil }) else { continue }
            var row = [metric.header] + values.map(metric.format)
            if runs.count >= 2 {
                row.append(Format.change(from: values.first!, to: values.last!) ?? Format.missing)
            }
            table.append(row)
        }
        return table
    }
}
