import Foundation
import Testing
import RaftLabReport

@Suite("latency.csv")
struct LatencyCSVTests {
    /// A small RFC 4180 reader, independent of the writer.
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = ""
        var quoted = false, chars = Array(text), i = 0
        while i < chars.count {
            let c = chars[i]
            if quoted {
                if c == "\"" {
                    if i + 1 < chars.count, chars[i + 1] == "\"" { field.append("\""); i += 1 } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" { quoted = true
            } else if c == "," { row.append(field); field = ""
            } else if c == "\n" { row.append(field); rows.append(row); row = []; field = ""
            } else { field.append(c) }
            i += 1
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }

    @Test func parsesBackToTheReportValues() throws {
        let report = Fixtures.report()
        let lmdb = report.results[2]
        let samples = RawLatencySamples(key: lmdb.key, samplesUs: [400.5, 450, 1200.125])
        let rows = Self.parse(LatencyCSV.render(report, samples: [samples]))
        #expect(rows.first == LatencyCSV.header)
        let body = rows.dropFirst()
        #expect(body.allSatisfy { $0.count == LatencyCSV.header.count })

        func value(_ backend: String, _ concurrency: String, _ metric: String, _ statistic: String) -> Double? {
            body.first { $0[0] == backend && $0[4] == concurrency && $0[7] == metric && $0[8] == statistic }
                .flatMap { Double($0[10]) }
        }
        #expect(value("lmdb/lmdb", "1", "write_latency", "p50") == lmdb.writeLatencyUs?.p50)
        #expect(value("lmdb/lmdb", "1", "write_latency", "p999") == lmdb.writeLatencyUs?.p999)
        #expect(value("lmdb/lmdb", "1", "replication_lag", "p99") == lmdb.replicationLagUs.p99)
        #expect(value("lmdb/lmdb", "1", "recovery", "snapshot_install") == lmdb.recovery.snapshotInstallUs)
        #expect(value("flatfile/flatfile", "8", "write_latency", "max") == report.results[5].writeLatencyUs?.max)

        // Unmeasured values have no row.
        #expect(value("memory/memory", "1", "recovery", "restart") == nil)
        #expect(value("leveldb/leveldb", "8", "replication_lag", "p50") == nil)

        // Raw samples keep order and precision, and carry the result's identity.
        let sampleRows = body.filter { $0[8] == "sample" }
        #expect(sampleRows.map { $0[9] } == ["0", "1", "2"])
        #expect(sampleRows.map { Double($0[10])! } == [400.5, 450, 1200.125])
        #expect(sampleRows.allSatisfy {
            $0[0] == "lmdb/lmdb" && $0[1] == "true" && $0[2] == "3" && $0[3] == "128" && $0[5] == "write" && $0[6] == "closed"
        })
        // Summary rows have an empty seq.
        #expect(body.filter { $0[8] != "sample" }.allSatisfy { $0[9].isEmpty })

        // Row count: per result 5 write + lag values present + recovery values present.
        let expected = report.results.reduce(0) { count, r in
            let lag = [r.replicationLagUs.p50, r.replicationLagUs.p99, r.replicationLagUs.max].compactMap { $0 }.count
            let rec = [r.recovery.restartUs, r.recovery.catchUpUs, r.recovery.snapshotInstallUs, r.recovery.failoverUs]
                .compactMap { $0 }.count
            return count + 5 + lag + rec
        } + 3
        #expect(body.count == expected)
    }

    @Test func quotesBackendNamesWithCommas() {
        var report = Fixtures.report()
        report.results = [report.results[0]]
        report.results[0].backend = ReportBackend(log: "a,b", state: "c\"d")
        let rows = Self.parse(LatencyCSV.render(report))
        #expect(rows[1][0] == "a,b/c\"d")
        #expect(rows[1].count == LatencyCSV.header.count)
    }
}
