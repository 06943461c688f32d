import Foundation

/// The run as an SVG: one row per client with each operation drawn from
/// invocation to answer (green ok, red fail, orange info), fault windows
/// shaded across all rows, and below, every operation's latency on a log
/// scale against the time it was invoked.
struct TimelineChart {
    let result: ChaosResult

    private let width = 1200.0
    private let left = 70.0
    private let right = 20.0
    private let rowHeight = 12.0
    private let latencyHeight = 220.0

    func svg() -> String {
        let load = result.operations.filter { !$0.isFinalRead }
        let clients = Array(Set(load.map(\.client))).sorted()
        let span = max(result.loadSeconds, load.map { Double($0.completedAt) / 1e9 }.max() ?? 1, 1)
        let plotWidth = width - left - right
        func x(_ seconds: Double) -> Double { left + plotWidth * min(max(seconds, 0), span) / span }
        let top = 40.0
        let rowsHeight = Double(max(clients.count, 1)) * rowHeight
        let latencyTop = top + rowsHeight + 50
        let height = latencyTop + latencyHeight + 40
        var svg: [String] = []
        svg.append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">")
        svg.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>")
        let options = result.options
        svg.append(text(left, 18, "raftlab chaos — \(options.logBackend)/\(options.stateBackend), \(options.nodes) nodes, seed \(options.seed): \(result.verdict.rawValue)", size: 14, weight: "bold"))

        // Fault windows.
        let colors: [FaultKind: String] = [.kill: "#e63946", .pause: "#457b9d", .partition: "#8d5fd3", .powerCut: "#b5651d"]
        for fault in result.faults {
            let start = x(fault.start)
            let end = x(fault.end ?? span)
            let recovered = x(fault.recovered ?? fault.end ?? span)
            let color = colors[fault.kind] ?? "#999"
            for (top, bottom) in [(top, top + rowsHeight), (latencyTop, latencyTop + latencyHeight)] {
                svg.append("<rect x=\"\(f(start))\" y=\"\(f(top))\" width=\"\(f(max(end - start, 1)))\" height=\"\(f(bottom - top))\" fill=\"\(color)\" fill-opacity=\"0.15\"/>")
                if recovered > end {
                    svg.append("<rect x=\"\(f(end))\" y=\"\(f(top))\" width=\"\(f(recovered - end))\" height=\"\(f(bottom - top))\" fill=\"\(color)\" fill-opacity=\"0.06\"/>")
                }
            }
            let name = fault.kind == .partition ? (fault.shape?.rawValue ?? "partition") : "\(fault.kind.rawValue) n\(fault.node)"
            svg.append(text(start + 2, top - 4, name, size: 9, color: color))
        }

        // Operations per client.
        let outcomeColor = ["ok": "#2a9d8f", "fail": "#e76f51", "info": "#f4a261"]
        for (row, client) in clients.enumerated() {
            let y = top + Double(row) * rowHeight + rowHeight / 2
            svg.append(text(4, y + 4, "client \(client)", size: 9))
            var pieces: [String: [String]] = [:]
            for operation in load where operation.client == client {
                let a = x(Double(operation.invokedAt) / 1e9)
                let b = max(x(Double(operation.completedAt) / 1e9), a + 0.8)
                pieces[operation.outcome.type, default: []].append("M\(f(a)) \(f(y))H\(f(b))")
            }
            for (type, path) in pieces.sorted(by: { $0.key < $1.key }) {
                svg.append("<path d=\"\(path.joined())\" stroke=\"\(outcomeColor[type]!)\" stroke-width=\"\(f(rowHeight - 4))\"/>")
            }
        }
        svg.append(axis(y: top + rowsHeight + 14, span: span, x: x))

        // Latency, log scale from 0.1 ms to the largest.
        let latencies = load.map { max(Double($0.latencyNanoseconds) / 1e6, 0.1) }
        let maxLatency = max(latencies.max() ?? 1, 10)
        let lowLog = log10(0.1)
        let highLog = log10(maxLatency)
        func y(_ ms: Double) -> Double {
            latencyTop + latencyHeight - latencyHeight * (log10(max(ms, 0.1)) - lowLog) / max(highLog - lowLog, 1e-9)
        }
        svg.append(text(left, latencyTop - 8, "latency (ms, log scale) by invocation time", size: 11, weight: "bold"))
        var tick = 0.1
        while tick <= maxLatency * 1.0001 {
            svg.append("<line x1=\"\(f(left))\" x2=\"\(f(width - right))\" y1=\"\(f(y(tick)))\" y2=\"\(f(y(tick)))\" stroke=\"#ddd\"/>")
            svg.append(text(left - 40, y(tick) + 4, tick < 1 ? String(format: "%.1f", tick) : String(format: "%.0f", tick), size: 9))
            tick *= 10
        }
        var dots: [String: [String]] = [:]
        let stride = max(load.count / 20_000, 1)
        for (index, operation) in load.enumerated() where index % stride == 0 {
            let px = x(Double(operation.invokedAt) / 1e9)
            let py = y(Double(operation.latencyNanoseconds) / 1e6)
            dots[operation.outcome.type, default: []].append("M\(f(px)) \(f(py))h1.2")
        }
        for (type, path) in dots.sorted(by: { $0.key < $1.key }) {
            svg.append("<path d=\"\(path.joined())\" stroke=\"\(outcomeColor[type]!)\" stroke-width=\"2\" stroke-linecap=\"round\"/>")
        }
        svg.append(axis(y: latencyTop + latencyHeight + 14, span: span, x: x))
        let legendY = height - 8
        var legendX = left
        for (type, color) in [("ok", "#2a9d8f"), ("fail", "#e76f51"), ("info (unknown outcome)", "#f4a261")] {
            svg.append("<rect x=\"\(f(legendX))\" y=\"\(f(legendY - 9))\" width=\"10\" height=\"10\" fill=\"\(color)\"/>")
            svg.append(text(legendX + 14, legendY, type, size: 10))
            legendX += 150
        }
        for (kind, color) in [("kill", "#e63946"), ("pause", "#457b9d"), ("partition", "#8d5fd3")] {
            svg.append("<rect x=\"\(f(legendX))\" y=\"\(f(legendY - 9))\" width=\"10\" height=\"10\" fill=\"\(color)\" fill-opacity=\"0.3\"/>")
            svg.append(text(legendX + 14, legendY, kind, size: 10))
            legendX += 100
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    private func axis(y: Double, span: Double, x: (Double) -> Double) -> String {
        var parts: [String] = []
        let step = span > 120 ? 30.0 : span > 40 ? 10.0 : 5.0
        var second = 0.0
        while second <= span {
            parts.append(text(x(second) - 6, y, "\(Int(second)) s", size: 9))
            second += step
        }
        return parts.joined(separator: "\n")
    }

    private func text(_ x: Double, _ y: Double, _ content: String, size: Int, weight: String = "normal", color: String = "#222") -> String {
        let escaped = content.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
        return "<text x=\"\(f(x))\" y=\"\(f(y))\" font-size=\"\(size)\" font-weight=\"\(weight)\" fill=\"\(color)\">\(escaped)</text>"
    }

    private func f(_ value: Double) -> String { String(format: "%.1f", value) }
}
