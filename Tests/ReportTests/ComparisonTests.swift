import Foundation
import Testing
@testable import RaftLabReport

@Suite("raftlab report comparison")
struct ComparisonTests {
    /// Two saved runs: "after" improves lmdb at concurrency 1 and adds a concurrency-64 row.
    static func savedRuns() throws -> (root: String, before: String, after: String) {
        let root = try Fixtures.temporaryDirectory()
        let before = root + "/2025-06-01-before", after = root + "/2025-06-02-after"
        var first = Fixtures.report()
        first.config["label"] = nil
        var second = Fixtures.report(startedAt: "2025-06-02T10:00:00Z")
        second.config["label"] = nil
        second.floor = Floor(fdatasyncUs: 260, loopbackRttUs: 24)
        second.results[2].throughputOpsS = 2200
        second.results[2].writeLatencyUs?.p50 = 400
        var extra = second.results[6]
        extra.concurrency = 64
        second.results.append(extra)
        try ReportWriter.write(first, to: before, label: "before")
        try ReportWriter.write(second, to: after, label: "after")
        return (root, before, after)
    }

    @Test func showsBothValuesAndTheRelativeChange() throws {
        let runs = try Self.savedRuns()
        defer { Fixtures.remove(runs.root) }
        let comparison = try ReportComparison.load([runs.before, runs.after])
        #expect(comparison.runs.map(\.label) == ["2025-06-01-before", "2025-06-02-after"])
        let text = comparison.render()
        let section = "## lmdb/lmdb, concurrency 1: Write-only, uniform keys, closed loop\n"
        #expect(tableHeader(text, section: section)
            == ["metric", "2025-06-01-before", "2025-06-02-after", "change"])
        #expect(text.contains("\"change\" is 2025-06-02-after relative to 2025-06-01-before."))
        #expect(tableRow(text, section: section, backend: "ops/s") == ["ops/s", "2000", "2200", "+10.0%"])
        #expect(tableRow(text, section: section, backend: "p50 µs") == ["p50 µs", "450", "400", "-11.1%"])
        #expect(tableRow(text, section: section, backend: "p90 µs") == ["p90 µs", "675", "675", "0.0%"])
        // Floor changed too, so the floor multiple moves by a different amount.
        #expect(tableRow(text, section: section, backend: "p50 × fdatasync") == ["p50 × fdatasync", "1.8×", "1.5×", "-14.5%"])
        // A value missing in one run is n/a; a metric no run has for the row is left out.
        let memory = "## memory/memory, concurrency 1: Write-only, uniform keys, closed loop\n"
        #expect(tableRow(text, section: memory, backend: "ops/s") != nil)
        #expect(tableRow(text, section: memory, backend: "restart") == nil)
        #expect(tableRow(text, section: memory, backend: "read p50 µs") == nil)
    }

    @Test func rowsMissingFromARunShowNotApplicable() throws {
        let runs = try Self.savedRuns()
        defer { Fixtures.remove(runs.root) }
        let text = try ReportComparison.load([runs.before, runs.after]).render()
        #expect(tableRow(text, section: "## lmdb/lmdb, concurrency 64: Write-only, uniform keys, closed loop\n", backend: "ops/s") == ["ops/s", "n/a", "12000", "n/a"])
    }

    @Test func showsEachRunsMachineAndFloor() throws {
        let runs = try Self.savedRuns()
        defer { Fixtures.remove(runs.root) }
        let text = try ReportComparison.load([runs.before, runs.after]).render()
        let before = try #require(tableRow(text, section: "# RaftLab comparison", backend: "2025-06-01-before"))
        let after = try #require(tableRow(text, section: "# RaftLab comparison", backend: "2025-06-02-after"))
        #expect(before.contains("250 µs") && before.contains("25.5 µs") && before.contains("2025-06-01T09:30:00Z"))
        #expect(after.contains("260 µs") && after.contains("24.0 µs"))
        #expect(before[3].contains("8 cores") && after[3].contains("Debian GNU/Linux 12"))
    }

    @Test func warnsWhenMachinesOrFloorsDiffer() throws {
        var other = Fixtures.report()
        other.machine.cores = 64
        other.floor.fdatasyncUs = 2000
        let comparison = ReportComparison(runs: [
            .init(label: "a", path: "a", report: Fixtures.report()), .init(label: "a", path: "b", report: other),
        ])
        #expect(comparison.runs.map(\.label) == ["a", "a #2"])
        let text = comparison.render()
        #expect(text.contains("different machines"))
        #expect(text.contains("fdatasync floor differs"))
    }

    @Test func listsConfigOptionsThatDiffer() {
        var other = Fixtures.report()
        other.config["nodes"] = 5
        other.config["new_option"] = "x"
        let text = ReportComparison(runs: [
            .init(label: "a", path: "a", report: Fixtures.report()), .init(label: "b", path: "b", report: other),
        ]).render()
        #expect(tableRow(text, section: "## Config differences", backend: "`nodes`") == ["`nodes`", "3", "5"])
        #expect(tableRow(text, section: "## Config differences", backend: "`new_option`") == ["`new_option`", "n/a", "x"])
        #expect(tableRow(text, section: "## Config differences", backend: "`ops`") == nil)
    }

    @Test func usesTheLabelOptionWhenPresent() throws {
        let root = try Fixtures.temporaryDirectory()
        defer { Fixtures.remove(root) }
        try ReportWriter.write(Fixtures.report(), to: root + "/x", label: "x")
        #expect(try ReportComparison.load([root + "/x"]).runs.first?.label == "baseline")
    }

    @Test func aCorruptRunIsNamedInTheError() throws {
        let runs = try Self.savedRuns()
        defer { Fixtures.remove(runs.root) }
        try Data("not json".utf8).write(to: URL(fileURLWithPath: runs.after + "/report.json"))
        let error = #expect(throws: ReportFileError.self) { try ReportComparison.load([runs.before, runs.after]) }
        #expect(error?.path == runs.after + "/report.json")
    }

    @Test func relativeChangeFormatting() {
        #expect(Format.change(from: 100, to: 87.7) == "-12.3%")
        #expect(Format.change(from: 100, to: 100) == "0.0%")
        #expect(Format.change(from: 0, to: 5) == nil)
        #expect(Format.change(from: nil, to: 5) == nil)
    }
}

extension ComparisonTests {
    @Test func dumpForInspection() throws {
        guard let dump = ProcessInfo.processInfo.environment["RAFTLAB_REPORT_DUMP"] else { return }
        let runs = try Self.savedRuns()
        defer { Fixtures.remove(runs.root) }
        try ReportComparison.load([runs.before, runs.after]).render().write(toFile: dump + "/comparison.md", atomically: true, encoding: .utf8)
    }
}
