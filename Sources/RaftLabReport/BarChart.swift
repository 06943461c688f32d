/// One series of a grouped bar chart: a backend, its colour, one value per category.
struct ChartSeries {
    var name: String
    var color: String
    var values: [Double?]
}

/// One panel of grouped bars: categories along x (percentiles, concurrency
/// levels, recovery phases), one bar per series in each group. Missing values
/// leave a gap marked "n/a" so an absent measurement is never read as zero.
struct BarChartPanel {
    var title: String
    var categories: [String]
    var series: [ChartSeries]
    var xLabel: String
    var yLabel: String
    var scale: ChartScale.Kind
    /// Unit appended to values in tooltips and bar labels ("µs", "ops/s").
    var unit: String

    static let height = 320.0
    static let margin = (left: 78.0, right: 20.0, top: 34.0, bottom: 52.0)
    static let minimumBarWidth = 10.0

    /// Width this panel needs so bars stay at least `minimumBarWidth` wide.
    var preferredWidth: Double {
        let bars = Double(Swift.max(1, categories.count * Swift.max(1, series.count)))
        return Self.margin.left + Self.margin.right + bars * Self.minimumBarWidth / 0.7
    }

    func draw(into svg: inout SVGDocument, x originX: Double, y originY: Double, width: Double) {
        let plotLeft = originX + Self.margin.left
        let plotTop = originY + Self.margin.top
        let plotWidth = width - Self.margin.left - Self.margin.right
        let plotHeight = Self.height - Self.margin.top - Self.margin.bottom
        let plotBottom = plotTop + plotHeight
        let axis = ChartScale(kind: scale, values: series.flatMap { $0.values.compactMap { $0 } })

        svg.text(title, x: plotLeft, y: originY + 20, size: 14, weight: "bold")

        // Grid and value axis.
        for tick in axis.ticks {
            let y = plotBottom - axis.fraction(tick) * plotHeight
            svg.line(x1: plotLeft, y1: y, x2: plotLeft + plotWidth, y2: y, stroke: "#e3e3e3")
            svg.text(ChartScale.label(tick), x: plotLeft - 6, y: y + 4, size: 11, anchor: .end, fill: "#555555")
        }
        svg.line(x1: plotLeft, y1: plotTop, x2: plotLeft, y2: plotBottom, stroke: "#888888")
        svg.line(x1: plotLeft, y1: plotBottom, x2: plotLeft + plotWidth, y2: plotBottom, stroke: "#888888")
        let middleY = plotTop + plotHeight / 2
        svg.text(yLabel, x: originX + 16, y: middleY, size: 12, anchor: .middle, rotate: -90)
        svg.text(xLabel, x: plotLeft + plotWidth / 2, y: originY + Self.height - 8, size: 12, anchor: .middle)

        // Bars.
        guard !categories.isEmpty else { return }
        let groupWidth = plotWidth / Double(categories.count)
        let barWidth = groupWidth * 0.8 / Double(Swift.max(1, series.count))
        for (column, category) in categories.enumerated() {
            let groupLeft = plotLeft + Double(column) * groupWidth + groupWidth * 0.1
            svg.text(category, x: groupLeft + groupWidth * 0.4, y: plotBottom + 18, size: 12, anchor: .middle)
            for (index, entry) in series.enumerated() {
                let x = groupLeft + Double(index) * barWidth
                guard column < entry.values.count, let value = entry.values[column], value.isFinite else {
                    svg.text("n/a", x: x + barWidth / 2, y: plotBottom - 4, size: 9, anchor: .middle,
                             fill: "#999999", rotate: barWidth < 18 ? -90 : nil)
                    continue
                }
                let barHeight = axis.fraction(value) * plotHeight
                let valueText = "\(ChartScale.label(value)) \(unit)"
                svg.rect(x: x + 1, y: plotBottom - barHeight, width: barWidth - 2, height: barHeight,
                         fill: entry.color, tooltip: "\(entry.name), \(category): \(valueText)")
                if barWidth >= 30 {
                    svg.text(ChartScale.label(value), x: x + barWidth / 2, y: plotBottom - barHeight - 4,
                             size: 10, anchor: .middle, fill: "#333333")
                }
            }
        }
    }
}

/// A whole chart file: a title, a legend (one colour per backend, the same in
/// every chart of a report), then panels stacked vertically (one per
/// concurrency where a metric is measured per concurrency).
struct BarChartFigure {
    var title: String
    var subtitle: String
    var legend: [(name: String, color: String)]
    var panels: [BarChartPanel]
    /// Shown instead of panels when the run measured nothing for this chart.
    var emptyMessage = "Not measured in this run."

    static let minimumWidth = 760.0

    func render() -> String {
        let width = Swift.max(Self.minimumWidth, panels.map(\.preferredWidth).max() ?? 0)
        // Legend entries flow left to right and wrap.
        var legendRows: [[(name: String, color: String, width: Double)]] = [[]]
        var rowWidth = 0.0
        for entry in legend {
            let entryWidth = 26 + Double(entry.name.count) * 7 + 18
            if rowWidth + entryWidth > width - 40, !legendRows[legendRows.count - 1].isEmpty {
                legendRows.append([])
                rowWidth = 0
            }
            legendRows[legendRows.count - 1].append((entry.name, entry.color, entryWidth))
            rowWidth += entryWidth
        }
        let subtitleLines = Self.wrap(subtitle, maxCharacters: Int((width - 40) / 6.4))
        let legendTop = 44 + Double(subtitleLines.count) * 16
        let headerHeight = legendTop + Double(legendRows.count) * 20 + 8
        let bodyHeight = panels.isEmpty ? 60 : Double(panels.count) * BarChartPanel.height
        var svg = SVGDocument(width: width, height: headerHeight + bodyHeight + 10)

        svg.text(title, x: 20, y: 28, size: 18, weight: "bold")
        for (index, line) in subtitleLines.enumerated() {
            svg.text(line, x: 20, y: 48 + Double(index) * 16, size: 12, fill: "#555555")
        }
        for (row, entries) in legendRows.enumerated() {
            var x = 20.0
            let y = legendTop + Double(row) * 20
            for entry in entries {
                svg.rect(x: x, y: y + 2, width: 14, height: 14, fill: entry.color)
                svg.text(entry.name, x: x + 20, y: y + 14, size: 12)
                x += entry.width
            }
        }
        if panels.isEmpty {
            svg.text(emptyMessage, x: 20, y: headerHeight + 30, size: 13, fill: "#777777")
        }
        for (index, panel) in panels.enumerated() {
            panel.draw(into: &svg, x: 0, y: headerHeight + Double(index) * BarChartPanel.height, width: width)
        }
        return svg.render(title: title)
    }

    /// Greedy word wrap: SVG 1.1 text does not wrap by itself.
    static func wrap(_ text: String, maxCharacters: Int) -> [String] {
        var lines: [String] = []
        var current = ""
        for word in text.split(separator: " ") {
            if !current.isEmpty, current.count + 1 + word.count > Swift.max(20, maxCharacters) {
                lines.append(current)
                current = ""
            }
            current += current.isEmpty ? String(word) : " " + word
        }
        if !current.isEmpty { lines.append(current) }
        return lines.isEmpty ? [""] : lines
    }
}
