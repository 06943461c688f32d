/// `report.md`: the run a person reads. One table per concurrency with a row
/// per backend and the best value of each column in bold, so the winner of
/// each metric is visible at a glance; around it, what is needed to trust
/// the numbers: when, on what machine, against what floor, with which config.
public enum MarkdownReport {
    public static let fileName = "report.md"

    public static func render(_ report: BenchReport, label: String) -> String {
        var out = "# RaftLab benchmark: \(label)\n\n"
        out += "- **Started:** \(report.startedAt)\n"
        out += "- **RaftLab version:** \(report.raftlabVersion)\n"
        out += "- **Machine:** \(machineLine(report.machine))\n"
        out += "- **Floor:** \(floorLine(report.floor))\n"
        if let setup = setupLine(report.results) { out += "- **Setup:** \(setup)\n" }
        out += "\n"
        out += "Best value in each column in **bold** (highest throughput, lowest everything else). "
        out += "Write latency is client submit → commit acknowledgement, replication lag is leader commit → "
        out += "follower apply, both in µs. \"p50/p99 × fdatasync\" is that write percentile divided by the fdatasync floor. "
        out += "n/a: not measured in this run.\n"

        let labeler = SeriesLabeler(report.results.map(\.seriesKey))
        let byConcurrency = Dictionary(grouping: report.results, by: \.concurrency)
        if byConcurrency.isEmpty { out += "\nNo results.\n" }
        for concurrency in byConcurrency.keys.sorted() {
            let results = byConcurrency[concurrency]!.sorted { $0.seriesKey < $1.seriesKey }
            out += "\n## Concurrency \(concurrency)\n\n"
            out += resultTable(results, floor: report.floor, labeler: labeler).render()
            if let note = recoveryNote(results, labeler: labeler) { out += "\n\(note)\n" }
            if let swaps = migrationTable(results, labeler: labeler) { out += "\n" + swaps }
        }

        out += "\n## Effective config\n\n"
        var config = MarkdownTable(headers: ["option", "value"], alignments: [.left, .left])
        for entry in report.config.flattened() { config.append(["`\(entry.key)`", entry.value.description]) }
        out += report.config.isEmpty ? "No options recorded.\n" : config.render()
        return out
    }

    static func machineLine(_ machine: MachineInfo) -> String {
        "\(machine.cores) cores, \(Format.memory(machine.memoryBytes)) memory, \(machine.os)"
    }

    static func floorLine(_ floor: Floor) -> String {
        "fdatasync of a 128-byte append \(Format.micros(floor.fdatasyncUs)) µs (median), "
            + "loopback TCP round trip \(Format.micros(floor.loopbackRttUs)) µs (median)"
    }

    /// The settings shared by every result; the ones that vary are in the row labels instead.
    static func setupLine(_ results: [BenchResult]) -> String? {
        guard !results.isEmpty else { return nil }
        var parts: [String] = []
        if let sync = shared(results.map(\.sync)) { parts.append("sync \(Format.yesNo(sync))") }
        if let nodes = shared(results.map(\.nodes)) { parts.append("\(nodes) nodes") }
        if let size = shared(results.map(\.valueSize)) { parts.append("\(size)-byte values") }
        if let ops = shared(results.map(\.ops)) { parts.append("\(ops) writes per result") }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }

    static func resultTable(_ results: [BenchResult], floor: Floor, labeler: SeriesLabeler) -> MarkdownTable {
        var table = MarkdownTable(headers: ["backend"] + Metric.all.map(\.header))
        let columns = Metric.all.map { metric in
            let values = results.map { metric.value($0, floor) }
            return BestValue.marked(values: values, texts: values.map(metric.format), direction: metric.direction)
        }
        for (row, result) in results.enumerated() {
            table.append([labeler.label(result.seriesKey)] + columns.map { $0[row] })
        }
        return table
    }

    /// The live engine swaps of the recovery phase (`--migrate-to`), if any.
    static func migrationTable(_ results: [BenchResult], labeler: SeriesLabeler) -> String? {
        let measured = results.compactMap { result in result.recovery.migration.map { (result, $0) } }
        guard !measured.isEmpty else { return nil }
        var table = MarkdownTable(headers: [
            "live swap", "to", "nodes", "total", "longest write gap", "writes (failed tries)", "write p50 µs",
            "write p99 µs", "write max µs", "snapshot bytes", "entry bytes",
        ])
        for (result, swap) in measured {
            table.append([
                labeler.label(result.seriesKey), swap.to.description, String(swap.nodesReplaced),
                Format.duration(us: swap.totalUs), Format.duration(us: swap.longestWriteGapUs),
                "\(swap.writes) (\(swap.failedAttempts))",
                Format.micros(swap.writeLatencyUs?.p50), Format.micros(swap.writeLatencyUs?.p99), Format.micros(swap.writeLatencyUs?.max),
                Format.bytes(swap.snapshotBytes), Format.bytes(swap.entryBytes),
            ])
        }
        return "Live engine swap under load (every node replaced, one at a time; the load retries refused writes; "
            + "longest write gap = longest time without an acknowledged write):\n\n" + table.render()
    }

    /// Recovery times mean little without the N they recovered from.
    static func recoveryNote(_ results: [BenchResult], labeler: SeriesLabeler) -> String? {
        let measured = results.filter { $0.recovery.entries != nil }
        guard !measured.isEmpty else { return nil }
        if let entries = shared(measured.map { $0.recovery.entries! }), measured.count == results.count {
            return "Recovery measured after \(entries) entries."
        }
        let list = measured.map { "\(labeler.label($0.seriesKey)) \($0.recovery.entries!)" }
        return "Recovery measured after: \(list.joined(separator: ", ")) entries."
    }

    private static func shared<T: Equatable>(_ values: [T]) -> T? {
        guard let first = values.first, values.allSatisfy({ $0 == first }) else { return nil }
        return first
    }
}
