import Foundation
import Testing
@testable import RaftLabReport

/// The cells of the table row for `backend` in the section titled `section`.
func tableRow(_ markdown: String, section: String, backend: String) -> [String]? {
    guard let start = markdown.range(of: section) else { return nil }
    let rest = markdown[start.upperBound...]
    let end = rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex
    for line in rest[..<end].split(separator: "\n") where line.hasPrefix("| \(backend) ") {
        return line.dropFirst(2).dropLast(2).components(separatedBy: " | ").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
    }
    return nil
}

/// The header cells of the first table in `section`.
func tableHeader(_ markdown: String, section: String) -> [String]? {
    guard let start = markdown.range(of: section) else { return nil }
    guard let line = markdown[start.upperBound...].split(separator: "\n").first(where: { $0.hasPrefix("| ") }) else {
        return nil
    }
    return line.dropFirst(2).dropLast(2).components(separatedBy: " | ").map { $0.trimmingCharacters(in: .whitespaces) }
}

@Suite("report.md")
struct MarkdownReportTests {
    let markdown = MarkdownReport.render(Fixtures.report(), label: "baseline")

    func cell(_ backend: String, _ column: String, concurrency: Int = 1) -> String? {
        let section = "## Concurrency \(concurrency)\n"
        guard let header = tableHeader(markdown, section: section), let index = header.firstIndex(of: column),
              let row = tableRow(markdown, section: section, backend: backend) else { return nil }
        return row[index]
    }

    func isBold(_ text: String?) -> Bool { text.map { $0.hasPrefix("**") && $0.hasSuffix("**") } ?? false }

    @Test func hasTitleMachineFloorAndStart() {
        #expect(markdown.hasPrefix("# RaftLab benchmark: baseline\n"))
        #expect(markdown.contains("2025-06-01T09:30:00Z"))
        #expect(markdown.contains("8 cores, 16.0 GiB memory, Debian GNU/Linux 12 (bookworm); Linux 6.1.0 x86_64"))
        #expect(markdown.contains("fdatasync of a 128-byte append 250 µs (median)"))
        #expect(markdown.contains("loopback TCP round trip 25.5 µs (median)"))
        #expect(markdown.contains("sync on, 3 nodes, 128-byte values, 10000 writes per result"))
    }

    @Test func oneTablePerConcurrencyWithEveryBackend() {
        for concurrency in [1, 8] {
            for backend in Fixtures.backends {
                #expect(tableRow(markdown, section: "## Concurrency \(concurrency)\n", backend: backend) != nil,
                        "\(backend) at concurrency \(concurrency)")
            }
        }
        let header = tableHeader(markdown, section: "## Concurrency 1\n")
        #expect(header == ["backend", "ops/s", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs", "p50 × fdatasync",
                           "p99 × fdatasync", "lag p50 µs", "lag p99 µs", "lag max µs", "restart", "catch-up", "snapshot install",
                           "failover", "disk", "write amp", "syncs/write"])
    }

    @Test func marksTheBestValueOfEachColumn() {
        // Highest throughput wins; only the winner is bold.
        #expect(cell("memory/memory", "ops/s") == "**9000**")
        #expect(cell("lmdb/lmdb", "ops/s") == "2000")
        #expect(cell("lmdb/lmdb", "ops/s", concurrency: 8) == "**12000**")
        #expect(cell("memory/memory", "ops/s", concurrency: 8) == "11000")
        // Lowest latency wins, and its multiple of the floor too.
        #expect(cell("memory/memory", "p50 µs") == "**50.0**")
        #expect(cell("memory/memory", "p50 × fdatasync") == "**0.20×**")
        #expect(cell("lmdb/lmdb", "p50 × fdatasync") == "1.8×")
        #expect(cell("lmdb/lmdb", "p99 × fdatasync") == "5.4×")
        #expect(cell("memory/memory", "p99 × fdatasync") == "**0.60×**")
        #expect(cell("flatfile/flatfile", "p99.9 µs") == "4500")
        // Recovery, disk and amplification: lowest wins.
        #expect(cell("lmdb/lmdb", "restart") == "**20.0 ms**")
        #expect(cell("leveldb/leveldb", "catch-up") == "**2.00 ms**")
        #expect(cell("leveldb/leveldb", "snapshot install") == "**4.50 ms**")
        #expect(cell("lmdb/lmdb", "disk") == "**4.00 MiB**")
        #expect(cell("flatfile/flatfile", "disk") == "10.0 MiB")
        #expect(cell("lmdb/lmdb", "write amp") == "**1.50**")
    }

    @Test func tiesAreAllMarked() {
        #expect(cell("memory/memory", "failover") == "**150 ms**")
        #expect(cell("lmdb/lmdb", "failover") == "**150 ms**")
        #expect(cell("leveldb/leveldb", "failover") == "155 ms")
        #expect(cell("lmdb/lmdb", "syncs/write") == "**1.00**")
        #expect(cell("leveldb/leveldb", "syncs/write") == "**1.00**")
        #expect(cell("flatfile/flatfile", "syncs/write") == "2.00")
    }

    @Test func missingValuesAreNotApplicableAndNeverBest() {
        #expect(cell("memory/memory", "restart") == "n/a")
        #expect(cell("memory/memory", "disk") == "n/a")
        #expect(cell("leveldb/leveldb", "lag p50 µs", concurrency: 8) == "n/a")
        // Concurrency 8 ran no recovery: the whole column is n/a, nothing bold.
        for backend in Fixtures.backends {
            #expect(cell(backend, "failover", concurrency: 8) == "n/a")
        }
    }

    @Test func everyBoldCellIsTheBestOfItsColumn() throws {
        // Independent of the hand-picked cells above: recompute winners from the model.
        let report = Fixtures.report()
        let section = "## Concurrency 1\n"
        let header = try #require(tableHeader(markdown, section: section))
        let results = report.results.filter { $0.concurrency == 1 }
        for (column, metric) in Metric.all.enumerated() {
            let values = results.map { metric.value($0, report.floor) }
            let best = metric.direction == .higher ? values.compactMap { $0 }.max() : values.compactMap { $0 }.min()
            for (result, value) in zip(results, values) {
                let row = try #require(tableRow(markdown, section: section, backend: result.backend.description))
                #expect(isBold(row[column + 1]) == (value != nil && value == best && values.compactMap { $0 }.count > 1),
                        "\(header[column + 1]) for \(result.backend)")
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
    }

    @Test func mentionsRecoveryEntries() {
        #expect(markdown.contains("Recovery measured after 1000 entries."))
    }

    @Test func varyingSettingsGoIntoRowLabels() {
        var report = Fixtures.report()
        var syncOff = report.results[2]
        syncOff.sync = false
        syncOff.throughputOpsS = 50000
        report.results.append(syncOff)
        let text = MarkdownReport.render(report, label: "x")
        #expect(tableRow(text, section: "## Concurrency 1\n", backend: "lmdb/lmdb (sync off)")?[1] == "**50000**")
        #expect(tableRow(text, section: "## Concurrency 1\n", backend: "lmdb/lmdb (sync on)") != nil)
        #expect(!text.contains("sync on, 3 nodes"))
    }

    @Test func pipesInValuesDoNotBreakTables() {
        var report = Fixtures.report()
        report.config["filter"] = "a|b"
        #expect(MarkdownReport.render(report, label: "x").contains("a\\|b"))
    }
}
