import Foundation
import Testing
@testable import RaftLabReport

/// The lines of the section that starts with `heading`, up to the next heading of any level.
func sectionLines(_ markdown: String, _ heading: String) -> [Substring]? {
    guard let start = markdown.range(of: heading) else { return nil }
    var lines: [Substring] = []
    for line in markdown[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("#") { break }
        lines.append(line)
    }
    return lines
}

/// Every table of a section, as rows of cells (the header row first).
func tables(_ markdown: String, section: String) -> [[[String]]] {
    guard let lines = sectionLines(markdown, section) else { return [] }
    var tables: [[[String]]] = []
    var current: [[String]] = []
    for line in lines {
        if line.hasPrefix("| ") {
            current.append(line.dropFirst(2).dropLast(2).components(separatedBy: " | ").map {
                $0.trimmingCharacters(in: .whitespaces)
            })
        } else if line.hasPrefix("|:") || line.hasPrefix("|-") {
            continue
        } else if !current.isEmpty {
            tables.append(current)
            current = []
        }
    }
    if !current.isEmpty { tables.append(current) }
    return tables
}

/// The cells of the row for `backend` in the first table of `section` that has one.
func tableRow(_ markdown: String, section: String, backend: String) -> [String]? {
    for table in tables(markdown, section: section) {
        if let row = table.dropFirst().first(where: { $0.first == backend }) { return row }
    }
    return nil
}

/// The header cells of the first table in `section`.
func tableHeader(_ markdown: String, section: String) -> [String]? {
    tables(markdown, section: section).first?.first
}

@Suite("report.md")
struct MarkdownReportTests {
    let markdown = MarkdownReport.render(Fixtures.report(), label: "baseline")
    static let scenario = "## Write-only, uniform keys, closed loop\n"

    func section(_ concurrency: Int) -> String { concurrency == 1 ? "### 1 client\n" : "### \(concurrency) clients\n" }

    /// A cell of a result table (either of the two per concurrency) or of the recovery table.
    func cell(_ backend: String, _ column: String, concurrency: Int = 1) -> String? {
        let heading = ["restart", "catch-up", "snapshot install", "failover", "entries"].contains(column)
            ? "## Recovery\n" : section(concurrency)
        let label = backend == "memory/memory" ? "memory/memory (reference)" : backend
        for table in tables(markdown, section: heading) {
            guard let index = table[0].firstIndex(of: column),
                  let row = table.dropFirst().first(where: { $0.first == label }) else { continue }
            return row[index]
        }
        return nil
    }

    func isBold(_ text: String?) -> Bool { text.map { $0.hasPrefix("**") && $0.hasSuffix("**") } ?? false }

    @Test func hasTitleMachineFloorsLoadAndStart() {
        #expect(markdown.hasPrefix("# RaftLab benchmark: baseline\n"))
        #expect(markdown.contains("2025-06-01T09:30:00Z"))
        #expect(markdown.contains("8 cores, 16.0 GiB memory, Debian GNU/Linux 12 (bookworm); Linux 6.1.0 x86_64"))
        #expect(markdown.contains("fdatasync of a 128-byte append 250 µs"))
        #expect(markdown.contains("quorum (2nd of 3 concurrent appenders + fdatasync, same disk) 480 µs"))
        #expect(markdown.contains("loopback TCP round trip 25.5 µs"))
        #expect(markdown.contains("sync on, 3 nodes, 128-byte values"))
        #expect(markdown.contains("- **Load:** closed loop"))
        #expect(markdown.contains("1 repetition"))
    }

    @Test func oneSectionPerScenarioAndConcurrencyWithEveryBackend() {
        #expect(markdown.contains(Self.scenario))
        for concurrency in [1, 8] {
            for backend in Fixtures.backends {
                let label = backend == "memory/memory" ? "memory/memory (reference)" : backend
                #expect(tableRow(markdown, section: section(concurrency), backend: label) != nil,
                        "\(backend) at concurrency \(concurrency)")
            }
        }
        let both = tables(markdown, section: section(1)).map { $0[0] }
        #expect(both.count == 2)
        #expect(both.first == ["backend", "ops/s", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs", "p50 × fdatasync",
                               "p50 × quorum", "p99 × quorum", "errors", "timeouts"])
        #expect(both.last == ["backend", "lag p50 µs", "lag p99 µs", "lag max µs", "syncs/write", "stores' syncs/write",
                              "disk", "write amp", "log compactions"])
    }

    @Test func ranksDurableBackendsAmongThemselves() {
        // Highest throughput among the durable rows wins; memory is a reference, never bold.
        #expect(cell("lmdb/lmdb", "ops/s") == "**2000**")
        #expect(cell("memory/memory", "ops/s") == "9000")
        #expect(cell("lmdb/lmdb", "ops/s", concurrency: 8) == "**12000**")
        #expect(cell("memory/memory", "ops/s", concurrency: 8) == "11000")
        // Lowest latency wins, and its multiple of the floors too.
        #expect(cell("lmdb/lmdb", "p50 µs") == "**450**")
        #expect(cell("memory/memory", "p50 µs") == "50.0")
        #expect(cell("lmdb/lmdb", "p50 × fdatasync") == "**1.8×**")
        #expect(cell("memory/memory", "p50 × fdatasync") == "0.20×")
        #expect(cell("flatfile/flatfile", "p99.9 µs") == "4500")
        // Recovery, disk and amplification: lowest wins.
        #expect(cell("lmdb/lmdb", "restart") == "**20.0 ms**")
        #expect(cell("leveldb/leveldb", "catch-up") == "**2.00 ms**")
        #expect(cell("leveldb/leveldb", "snapshot install") == "**4.50 ms**")
        #expect(cell("lmdb/lmdb", "disk") == "**4.00 MiB**")
        #expect(cell("flatfile/flatfile", "disk") == "10.0 MiB")
        #expect(cell("lmdb/lmdb", "write amp") == "**1.50**")
        #expect(markdown.contains("memory/memory (reference)"))
    }

    @Test func tiesAreAllMarked() {
        #expect(cell("lmdb/lmdb", "failover") == "**150 ms**")
        #expect(cell("memory/memory", "failover") == "150 ms")
        #expect(cell("leveldb/leveldb", "failover") == "155 ms")
        #expect(cell("lmdb/lmdb", "syncs/write") == "**1.00**")
        #expect(cell("leveldb/leveldb", "syncs/write") == "**1.00**")
        #expect(cell("flatfile/flatfile", "syncs/write") == "2.00")
    }

    @Test func missingValuesAreNotApplicableAndNeverBest() {
        #expect(cell("memory/memory", "restart") == "n/a")
        #expect(cell("memory/memory", "disk") == "n/a")
        #expect(cell("leveldb/leveldb", "lag p50 µs", concurrency: 8) == "n/a")
    }

    @Test func recoveryIsShownOncePerBackend() {
        let recovery = tables(markdown, section: "## Recovery\n")
        #expect(recovery.count == 1)
        #expect(recovery.first?.dropFirst().map { $0[0] }
            == ["flatfile/flatfile", "leveldb/leveldb", "lmdb/lmdb", "memory/memory (reference)"])
        #expect(cell("lmdb/lmdb", "entries") == "1000")
        for concurrency in [1, 8] {
            #expect(!tables(markdown, section: section(concurrency)).contains { $0[0].contains("restart") })
        }
    }

    @Test func errorsAndTimeoutsHaveColumns() {
        var report = Fixtures.report()
        report.results[2].errors = 3
        report.results[2].timeouts = 1
        let text = MarkdownReport.render(report, label: "x")
        let row = tableRow(text, section: section(1), backend: "lmdb/lmdb")
        #expect(row?.suffix(2) == ["3", "1"])
    }

    @Test func everyBoldCellIsTheBestDurableValueOfItsColumn() throws {
        // Independent of the hand-picked cells above: recompute winners from the model.
        let report = Fixtures.report()
        let results = report.results.filter { $0.concurrency == 1 }
        for table in tables(markdown, section: section(1)) {
            for (column, header) in table[0].enumerated().dropFirst() {
                let metric = try #require(Metric.all.first { $0.header == header } ?? (header == "log compactions" ? Metric.compactions : nil))
                let values = results.map { $0.isRanked ? metric.value($0, report.floor) : nil }
                let present = values.compactMap { $0 }
                let best = metric.direction == .higher ? present.max() : present.min()
                for (result, value) in zip(results, values) {
                    let label = result.isRanked ? result.backend.description : "\(result.backend) (reference)"
                    let row = try #require(table.first { $0[0] == label })
                    let expected = metric.direction != .none && value != nil && value == best && present.count > 1
                    #expect(isBold(row[column]) == expected, "\(header) for \(result.backend)")
                }
            }
        }
    }

    @Test func includesTheFullEffectiveConfig() {
        guard let start = markdown.range(of: "## Effective config") else {
            Issue.record("no config section")
            return
        }
        let config = String(markdown[start.upperBound...])
        for key in ["label", "backends", "sync", "nodes", "concurrency", "value_size", "ops",
                    "raft.election_timeout_ms", "raft.heartbeat_ms", "seed"] {
            #expect(config.contains("`\(key)`"), "config option \(key)")
        }
        #expect(config.contains("[\"memory\", \"flatfile\", \"lmdb\", \"leveldb\"]"))
        #expect(config.contains("| null"))
        // In the order the runner listed the options, not sorted.
        let rows = ["label", "backends", "sync", "nodes", "concurrency"].map { config.range(of: "`\($0)`")!.lowerBound }
        #expect(rows == rows.sorted())
        #expect(config.contains("| `concurrency` ") && config.contains("[1, 8]"))
    }

    @Test func statesRepetitionsAndSpread() {
        var report = Fixtures.report()
        report.results[2].repetitions = 3
        report.results[2].spread = Spread(throughputOpsS: MinMax(min: 1900, max: 2100), writeP50Us: MinMax(min: 440, max: 470))
        report.config["repetitions"] = 3
        let text = MarkdownReport.render(report, label: "x")
        #expect(text.contains("3 repetitions"))
        let row = tableRow(text, section: section(1), backend: "lmdb/lmdb")
        #expect(row?[1] == "**2000 [1900–2100]**")
        #expect(row?[2] == "**450 [440–470]**")
    }

    @Test func varyingSettingsGoIntoRowLabels() {
        var report = Fixtures.report()
        var syncOff = report.results[2]
        syncOff.sync = false
        syncOff.throughputOpsS = 50000
        report.results.append(syncOff)
        var always = report.results[3]
        always.stateSync = "always"
        report.results.append(always)
        let text = MarkdownReport.render(report, label: "x")
        #expect(tableRow(text, section: section(1), backend: "lmdb/lmdb (sync off, state sync n/a)")?[1] == "**50000**")
        #expect(tableRow(text, section: section(1), backend: "lmdb/lmdb (sync on, state sync n/a)") != nil)
        #expect(tableRow(text, section: section(1), backend: "leveldb/leveldb (sync on, state sync always)") != nil)
        #expect(!text.contains("sync on, 3 nodes"))
    }

    @Test func pipesInValuesDoNotBreakTables() {
        var report = Fixtures.report()
        report.config["filter"] = "a|b"
        #expect(MarkdownReport.render(report, label: "x").contains("a\\|b"))
    }
}
