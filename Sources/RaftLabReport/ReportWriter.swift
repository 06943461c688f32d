import Foundation

/// Writes every file of a run into its output directory, the one call the
/// runner makes at the end: report.json (the data), report.md (for people),
/// latency.csv (for analysis) and the SVG charts. The JSON is written first
/// so that even if a later file fails, the run's data is saved and can be
/// re-rendered with `raftlab report`.
public enum ReportWriter {
    /// Writes all files into `directory` (created with parents if needed) and
    /// returns their paths. `label` titles the Markdown and charts; `samples`
    /// adds raw per-operation rows to latency.csv.
    @discardableResult
    public static func write(
        _ report: BenchReport, to directory: String, label: String, samples: [RawLatencySamples] = []
    ) throws -> [String] {
        try ReportFiles.createDirectory(directory)
        var written = [try ReportJSON.write(report, toDirectory: directory)]
        func save(_ text: String, _ name: String) throws {
            let path = (directory as NSString).appendingPathComponent(name)
            try ReportFiles.write(text, to: path)
            written.append(path)
        }
        try save(MarkdownReport.render(report, label: label), MarkdownReport.fileName)
        try save(LatencyCSV.render(report, samples: samples), LatencyCSV.fileName)
        for chart in ReportCharts.render(report, label: label) {
            try save(chart.svg, chart.file)
        }
        return written
    }
}
