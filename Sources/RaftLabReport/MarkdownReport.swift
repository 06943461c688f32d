/// `report.md`: the run a person reads. One section per scenario (workload,
/// keys, load), one pair of tables per concurrency with a row per backend,
/// recovery once per backend, and around them what is needed to trust the
/// numbers: when, on what machine, against what floors, under which load,
/// for how long, how many times, with which config.
///
/// Rows whose backends all keep data on disk are ranked among themselves:
/// the best value of each column among them is bold. A row with a volatile
/// backend (memory) is a reference, labelled so and never bold: it shows
/// what the engine costs without a disk, which no durable backend can beat.
public enum MarkdownReport {
    public static let fileName = "report.md"

    public static func render(_ report: BenchReport, label: String) -> String {
        var out = "# RaftLab benchmark: \(label)\n\n"
        out += "- **Started:** \(report.startedAt)\n"
        out += "- **RaftLab version:** \(report.raftlabVersion)\n"
        out += "- **Machine:** \(machineLine(report.machine))\n"
        out += "- **Floors:** \(floorLine(report.floor))\n"
        if let setup = setupLine(report.results, config: report.config) { out += "- **Setup:** \(setup)\n" }
        if let load = loadLine(report.results, config: report.config) { out += "- **Load:** \(load)\n" }
        if let timing = timingLine(report.results, config: report.config) { out += "- **Duration:** \(timing)\n" }
        out += "\n"
        out += "Rows whose backends keep data on disk are ranked among themselves: the best value in each column "
        out += "among them is **bold** (highest throughput, lowest everything else). A memory row is a reference "
        out += "(what the engine costs without a disk), never ranked. Latencies in µs run from a request's first "
        out += "attempt (open loop: its scheduled start) to its final answer, retries included; errors and timeouts "
        out += "count failed attempts. Replication lag is leader commit → follower apply of the same index. "
        out += "\"× fdatasync\" and \"× quorum\" divide a write percentile by the single fdatasync floor and by the "
        out += "quorum floor. syncs/write are observed at the system call on the nodes' data directories; "
        out += "\"stores' syncs/write\" is what the stores' own counters say. n/a: not measured in this run.\n"

        let labeler = SeriesLabeler(report.results.map(\.seriesKey))
        let byScenario = Dictionary(grouping: report.results, by: \.scenario)
        if byScenario.isEmpty { out += "\nNo results.\n" }
        for scenario in byScenario.keys.sorted() {
            out += "\n## \(scenario.title)\n"
            let byConcurrency = Dictionary(grouping: byScenario[scenario]!, by: \.concurrency)
            for concurrency in byConcurrency.keys.sorted() {
                let results = byConcurrency[concurrency]!.sorted(by: rowOrder)
                out += "\n### \(concurrency) \(concurrency == 1 ? "client" : "clients")\n\n"
                out += resultTable(results, columns: Metric.clientColumns(for: results), floor: report.floor, labeler: labeler).render()
                out += "\n"
                out += resultTable(results, columns: Metric.systemColumns(for: results), floor: report.floor, labeler: labeler).render()
            }
        }

        if let recovery = recoverySection(report.results, labeler: labeler) { out += recovery }
        if let swaps = migrationTable(report.results, labeler: labeler) { out += "\n" + swaps }

        out += "\n## Effective config\n\n"
        var config = MarkdownTable(headers: ["option", "value"], alignments: [.left, .left])
        for entry in report.config.flattened() { config.append(["`\(entry.key)`", entry.value.reportText]) }
        out += report.config.isEmpty ? "No options recorded.\n" : config.render()
        return out
    }

    /// Ranked rows first, in series order; reference rows after them.
    static func rowOrder(_ a: BenchResult, _ b: BenchResult) -> Bool {
        (a.isRanked ? 0 : 1, a.seriesKey) < (b.isRanked ? 0 : 1, b.seriesKey)
    }

    static func machineLine(_ machine: MachineInfo) -> String {
        "\(machine.cores) cores, \(Format.memory(machine.memoryBytes)) memory, \(machine.os)"
    }

    static func floorLine(_ floor: Floor) -> String {
        var parts = ["fdatasync of a 128-byte append \(Format.micros(floor.fdatasyncUs)) µs"]
        if let quorum = floor.quorumFdatasyncUs {
            parts.append("quorum (2nd of 3 concurrent appenders + fdatasync, same disk) \(Format.micros(quorum)) µs")
        }
        parts.append("loopback TCP round trip \(Format.micros(floor.loopbackRttUs)) µs")
        return parts.joined(separator: ", ") + " (medians, measured in this run)"
    }

    /// The settings shared by every result; the ones that vary are in the row labels instead.
    static func setupLine(_ results: [BenchResult], config: ReportConfig) -> String? {
        guard !results.isEmpty else { return nil }
        var parts: [String] = []
        if let sync = shared(results.map(\.sync)) { parts.append("sync \(Format.yesNo(sync))") }
        if let mode = shared(results.map(\.stateSync)), let mode { parts.append("state store syncs at \(mode == "always" ? "every apply" : "checkpoints")") }
        if let nodes = shared(results.map(\.nodes)) { parts.append("\(nodes) nodes") }
        if let size = shared(results.map(\.valueSize)) { parts.append("\(size)-byte values") }
        if let records = config.text("records"), records != "0" { parts.append("\(records) items loaded before each point") }
        if let transport = config.text("transport") {
            parts.append(transport == "tcp" ? "one process per node over loopback TCP" : "all nodes in one process")
        }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }

    /// Closed or open loop, as the results say.
    static func loadLine(_ results: [BenchResult], config: ReportConfig) -> String? {
        guard !results.isEmpty else { return nil }
        let open = results.filter { $0.load == "open" }
        let concurrency = Set(results.map(\.concurrency)).sorted().map(String.init).joined(separator: ", ")
        if open.isEmpty {
            return "closed loop: each of \(concurrency) clients sends its next request when the last is answered "
                + "(throughput is what the system sustained; latency excludes time a request would have waited to be sent)"
        }
        let rates = Set(open.compactMap(\.targetRate)).sorted().map(Format.throughput).joined(separator: ", ")
        var line = "open loop: requests scheduled at \(rates) per second whatever the answers, at most "
            + "\(concurrency) in flight; latency counts from each request's scheduled start, so waiting behind a "
            + "slow request is included (coordinated omission corrected)"
        if open.count < results.count { line += "; other rows closed loop" }
        return line
    }

    /// Warm-up, measured window and repetitions.
    static func timingLine(_ results: [BenchResult], config: ReportConfig) -> String? {
        guard !results.isEmpty else { return nil }
        var parts: [String] = []
        if let warmup = config.text("warmup_s") { parts.append("\(warmup) s warm-up") }
        if let ops = config.text("ops"), ops != "none" {
            parts.append("\(ops) operations measured per point")
        } else if let duration = config.text("duration_s") {
            var window = "at least \(duration) s measured per point"
            if let limit = config.text("max_duration_s"), limit != duration {
                window += ", extended until the leader's log was compacted once (at most \(limit) s)"
            }
            parts.append(window)
        }
        let measured = results.compactMap(\.measuredS)
        if let low = measured.min(), let high = measured.max() {
            parts.append("windows lasted \(Format.significant(low))–\(Format.significant(high)) s")
        }
        let repetitions = results.compactMap(\.repetitions).max() ?? Int(config.text("repetitions") ?? "1") ?? 1
        parts.append(repetitions > 1
            ? "\(repetitions) repetitions, backends interleaved; each value is the median, [min–max] across repetitions"
            : "1 repetition")
        return parts.joined(separator: "; ")
    }

    static func resultTable(_ results: [BenchResult], columns: [Metric], floor: Floor, labeler: SeriesLabeler) -> MarkdownTable {
        var table = MarkdownTable(headers: ["backend"] + columns.map(\.header))
        let competing = results.map(\.isRanked)
        let cells = columns.map { metric in
            let values = results.map { metric.value($0, floor) }
            var texts = values.map(metric.format)
            for (row, result) in results.enumerated() {
                if let spread = spreadText(metric, result) { texts[row] += " \(spread)" }
            }
            return BestValue.marked(values: values, texts: texts, direction: metric.direction, competing: competing)
        }
        for (row, result) in results.enumerated() {
            let name = labeler.label(result.seriesKey) + (result.isRanked ? "" : " (reference)")
            table.append([name] + cells.map { $0[row] })
        }
        return table
    }

    /// "[min–max]" across repetitions for the columns that carry a spread.
    static func spreadText(_ metric: Metric, _ result: BenchResult) -> String? {
        guard let spread = result.spread, (result.repetitions ?? 1) > 1 else { return nil }
        let range: MinMax?
        switch metric.header {
        case Metric.throughput.header: range = spread.throughputOpsS
        case Metric.p50.header: range = spread.writeP50Us
        case Metric.p99.header: range = spread.writeP99Us
        case Metric.readP50.header: range = spread.readP50Us
        case Metric.readP99.header: range = spread.readP99Us
        case Metric.lagP99.header: range = spread.lagP99Us
        case Metric.syncsPerWrite.header: range = spread.syncsPerWrite
        default: range = nil
        }
        guard let range else { return nil }
        return "[\(metric.format(range.min))–\(metric.format(range.max))]"
    }

    /// The live engine swaps of the recovery phase (`--migrate-to`), if any.
    static func migrationTable(_ results: [BenchResult], labeler: SeriesLabeler) -> String? {
        // Measured once per backend, like the rest of recovery: one row each.
        var seen: Set<SeriesKey> = []
        let measured = results.sorted(by: rowOrder).compactMap { result in
            seen.insert(result.seriesKey).inserted ? result.recovery.migration.map { (result, $0) } : nil
        }
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

    /// Recovery is measured once per backend (not per concurrency or
    /// workload), so it is shown once per backend.
    static func recoverySection(_ results: [BenchResult], labeler: SeriesLabeler) -> String? {
        var seen: [SeriesKey: BenchResult] = [:]
        for result in results where result.recovery.entries != nil && seen[result.seriesKey] == nil {
            seen[result.seriesKey] = result
        }
        guard !seen.isEmpty else { return nil }
        let rows = seen.values.sorted(by: rowOrder)
        let columns = [Metric.restart, Metric.catchUp, Metric.snapshotInstall, Metric.failover]
        var table = MarkdownTable(headers: ["backend", "entries", "restart via"] + columns.map(\.header) + ["catch-up writes"],
                                  alignments: [.left, .right, .left] + columns.map { _ in .right } + [.right])
        let competing = rows.map(\.isRanked)
        let noFloor = Floor(fdatasyncUs: 0, loopbackRttUs: 0)
        let cells = columns.map { metric in
            let values = rows.map { metric.value($0, noFloor) }
            return BestValue.marked(values: values, texts: values.map(metric.format), direction: metric.direction, competing: competing)
        }
        for (index, result) in rows.enumerated() {
            let name = labeler.label(result.seriesKey) + (result.isRanked ? "" : " (reference)")
            let path = switch result.recovery.restartPath {
            case "tail_replay": "log tail replay"
            case "snapshot": "leader's snapshot"
            default: Format.missing
            }
            table.append([name, result.recovery.entries.map(String.init) ?? Format.missing, path] + cells.map { $0[index] }
                + [result.recovery.catchUpEntries.map(String.init) ?? Format.missing])
        }
        var out = "\n## Recovery\n\n"
        out += "Measured once per backend on a cluster filled with `entries` writes. restart: a follower that "
        out += "applied everything stopped and started again from its data directory, until it applied the leader's "
        out += "commit index: a disk state store reopens at its last checkpoint and the log tail after it is "
        out += "replayed; a memory state store beside a disk log comes back empty and is restored from the leader's "
        out += "snapshot (n/a with a memory log: such a node cannot come back as itself, it rejoins empty). "
        out += "catch-up: a follower with a disk log down while `catch-up writes` more writes happened (`entries`, "
        out += "at most 100,000), "
        out += "until caught up. snapshot install: "
        out += "a new, empty node joining as a learner, until restored from the leader's snapshot and caught up "
        out += "(the path of any node whose state is gone, a memory state store's included). failover: "
        out += "client-observed unavailability, from the leader's crash (SIGKILL of its process; in process, cut off "
        out += "and halted without a clean stop) to the first write the new leader acknowledged.\n\n"
        out += table.render()
        return out
    }

    private static func shared<T: Equatable>(_ values: [T]) -> T? {
        guard let first = values.first, values.allSatisfy({ $0 == first }) else { return nil }
        return first
    }
}

extension ReportConfig {
    /// A config value as text ("10.0", "closed"), nil when absent or null.
    func text(_ key: String) -> String? {
        guard let value = self[key] else { return nil }
        if case .null = value { return nil }
        if case .string(let text) = value { return text }
        return value.reportText
    }
}
