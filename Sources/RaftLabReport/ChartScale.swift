import Foundation

/// A value axis: maps values to 0...1 and picks readable ticks. Log scale for
/// latencies (p50 and max are often orders of magnitude apart, and a linear
/// axis would flatten the percentiles that matter); linear from zero for
/// throughput, where bar lengths must be comparable.
struct ChartScale {
    enum Kind { case linear, log }

    let kind: Kind
    let lower: Double
    let upper: Double
    let ticks: [Double]

    init(kind: Kind, values: [Double]) {
        self.kind = kind
        let finite = values.filter { $0.isFinite }
        switch kind {
        case .linear:
            let top = Swift.max(finite.max() ?? 1, 0)
            let step = Self.niceStep(top > 0 ? top / 5 : 0.2)
            let upper = Swift.max(step, (top / step).rounded(.up) * step)
            lower = 0
            self.upper = upper
            ticks = stride(from: 0, through: upper + step / 2, by: step).map { $0 }
        case .log:
            let positive = finite.filter { $0 > 0 }
            let low = positive.min() ?? 1, high = positive.max() ?? 10
            var lowExponent = log10(low).rounded(.down), highExponent = log10(high).rounded(.up)
            if highExponent <= lowExponent { highExponent = lowExponent + 1 }
            if highExponent - lowExponent > 12 { lowExponent = highExponent - 12 }
            lower = pow(10, lowExponent)
            upper = pow(10, highExponent)
            ticks = stride(from: lowExponent, through: highExponent, by: 1).map { pow(10, $0) }
        }
    }

    /// 1, 2, 2.5 or 5 times a power of ten, at least `raw`.
    static func niceStep(_ raw: Double) -> Double {
        let magnitude = pow(10, log10(raw).rounded(.down))
        for factor in [1.0, 2.0, 2.5, 5.0, 10.0] where factor * magnitude >= raw * 0.999 {
            return factor * magnitude
        }
        return 10 * magnitude
    }

    /// 0 at the axis origin, 1 at the top; values outside are clamped.
    func fraction(_ value: Double) -> Double {
        switch kind {
        case .linear:
            return Swift.min(1, Swift.max(0, (value - lower) / (upper - lower)))
        case .log:
            guard value > 0 else { return 0 }
            let f = (log10(value) - log10(lower)) / (log10(upper) - log10(lower))
            return Swift.min(1, Swift.max(0, f))
        }
    }

    /// Short tick text: "0.1", "250", "10k", "2.5M".
    static func label(_ value: Double) -> String {
        let magnitude = abs(value)
        for (unit, suffix) in [(1e9, "G"), (1e6, "M"), (1e3, "k")] where magnitude >= unit {
            return trimmed(value / unit) + suffix
        }
        return trimmed(value)
    }

    private static func trimmed(_ value: Double) -> String {
        var text = String(format: "%.2f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}
