import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import RaftLabReport

/// Parses a document with Foundation's XML parser and records what a chart test needs.
final class SVGInspector: NSObject, XMLParserDelegate {
    var elements: [String] = []
    var rootAttributes: [String: String] = [:]
    var text = ""
    var error: Error?

    static func inspect(_ svg: String) -> SVGInspector {
        let inspector = SVGInspector()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = inspector
        if !parser.parse() { inspector.error = inspector.error ?? parser.parserError ?? CocoaError(.coderInvalidValue) }
        return inspector
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if elements.isEmpty { rootAttributes = attributes }
        elements.append(name)
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) { error = parseError }
}

@Suite("SVG charts")
struct ChartTests {
    static let charts = ReportCharts.render(Fixtures.report(), label: "baseline & <friends>")

    @Test func writesTheFourCharts() {
        #expect(Self.charts.map(\.file) == ["latency.svg", "throughput.svg", "replication_lag.svg", "recovery.svg"])
    }

    @Test(arguments: charts.map(\.file))
    func isWellFormedStandaloneSVG(file: String) throws {
        let svg = try #require(Self.charts.first { $0.file == file }?.svg)
        let parsed = SVGInspector.inspect(svg)
        #expect(parsed.error == nil, "\(file): \(String(describing: parsed.error))")
        #expect(parsed.elements.first == "svg")
        #expect(parsed.rootAttributes["xmlns"] == "http://www.w3.org/2000/svg")
        #expect(parsed.rootAttributes["viewBox"] != nil)
        #expect(!svg.contains("@import") && !svg.contains("url(") && !svg.contains("<link"), "no external resources")
        // Escaped label survives as text.
        #expect(parsed.text.contains("baseline & <friends>"))
    }

    @Test(arguments: charts.map(\.file))
    func mentionsEveryBackendInTheLegend(file: String) throws {
        let svg = try #require(Self.charts.first { $0.file == file }?.svg)
        let text = SVGInspector.inspect(svg).text
        for backend in Fixtures.backends { #expect(text.contains(backend), "\(file) lacks \(backend)") }
    }

    @Test func axesAreLabelledWithUnits() {
        let texts = Self.charts.map { SVGInspector.inspect($0.svg).text }
        #expect(texts[0].contains("latency (µs, log scale)") && texts[0].contains("percentile"))
        #expect(texts[1].contains("throughput (ops/s)") && texts[1].contains("concurrent clients"))
        #expect(texts[2].contains("lag (µs, log scale)"))
        #expect(texts[3].contains("time (ms, log scale)") && texts[3].contains("recovery phase"))
    }

    @Test func backendsKeepTheirColourAcrossCharts() throws {
        // The legend swatch colour of each backend is the same in every chart.
        func swatches(_ svg: String) -> [String] {
            svg.split(separator: "\n").filter { $0.hasPrefix("<rect") && $0.contains("width=\"14\"") }.map { line in
                let fill = line.range(of: "fill=\"")!
                return String(line[fill.upperBound...].prefix(7))
            }
        }
        let first = swatches(Self.charts[0].svg)
        #expect(first.count == 4)
        #expect(Set(first).count == 4)
        for chart in Self.charts { #expect(swatches(chart.svg) == first, "\(chart.file)") }
        #expect(first[2] == BackendPalette.fixed["lmdb/lmdb"])
    }

    @Test func barsCarryTheirExactValueAsATooltip() {
        #expect(Self.charts[1].svg.contains("<title>lmdb/lmdb, 8: 12k ops/s</title>"))
        #expect(Self.charts[3].svg.contains("<title>lmdb/lmdb, restart: 20 ms</title>"))
    }

    @Test func emptyRunStillGivesValidChartsThatSaySo() {
        var report = Fixtures.report()
        report.results = []
        for chart in ReportCharts.render(report, label: "empty") {
            let parsed = SVGInspector.inspect(chart.svg)
            #expect(parsed.error == nil)
            #expect(parsed.text.contains("Not measured in this run."))
        }
    }

    @Test func logScaleTicksAreDecades() {
        let scale = ChartScale(kind: .log, values: [42, 1234, 99_000])
        #expect(scale.ticks == [10, 100, 1000, 10000, 100_000])
        #expect(scale.fraction(10) == 0 && scale.fraction(100_000) == 1)
        let linear = ChartScale(kind: .linear, values: [0, 12000])
        #expect(linear.ticks.first == 0 && linear.upper >= 12000)
        #expect(ChartScale.label(2500) == "2.5k" && ChartScale.label(0.5) == "0.5")
    }
}
