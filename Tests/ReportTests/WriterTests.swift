import Foundation
import Testing
import RaftLabReport

@Suite("report directory")
struct ReportWriterTests {
    @Test func writesEveryFile() throws {
        let root = try Fixtures.temporaryDirectory()
        defer { Fixtures.remove(root) }
        let directory = root + "/results/2025-06-01-baseline"
        let recorder = LatencyRecorder(rawSampleLimit: 10)
        for us in [100.0, 200, 300] { recorder.record(microseconds: us) }
        let report = Fixtures.report()
        let written = try ReportWriter.write(
            report, to: directory, label: "baseline",
            samples: [RawLatencySamples(result: report.results[2], recorder: recorder)])
        let names = written.map { URL(fileURLWithPath: $0).lastPathComponent }
        #expect(names == ["report.json", "report.md", "latency.csv", "latency.svg", "throughput.svg",
                          "replication_lag.svg", "recovery.svg"])
        for path in written { #expect(FileManager.default.fileExists(atPath: path)) }
        #expect(try ReportJSON.read(from: directory) == report)
        let csv = try String(contentsOfFile: directory + "/latency.csv", encoding: .utf8)
        #expect(csv.contains("lmdb/lmdb,true,3,128,1,write,closed,write_latency,sample,2,300.000"))
        if let dump = ProcessInfo.processInfo.environment["RAFTLAB_REPORT_DUMP"] {
            for path in written { try? FileManager.default.copyItem(atPath: path, toPath: dump + "/" + URL(fileURLWithPath: path).lastPathComponent) }
        }
    }

    @Test func unwritableDirectoryIsATypedError() throws {
        let root = try Fixtures.temporaryDirectory()
        defer { Fixtures.remove(root) }
        let blocker = root + "/file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: blocker))
        let error = #expect(throws: ReportFileError.self) {
            try ReportWriter.write(Fixtures.report(), to: blocker + "/out", label: "x")
        }
        #expect(error?.path.hasPrefix(blocker) == true)
    }
}
