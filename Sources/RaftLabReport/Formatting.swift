import Foundation

/// How numbers read in the Markdown and comparison tables: few digits, the
/// unit where a column mixes magnitudes (recovery seconds vs microseconds),
/// "n/a" where a value was not measured. Raw values stay in report.json and
/// latency.csv; these strings are for people.
enum Format {
    static let missing = "n/a"

    /// Microseconds with precision matched to magnitude: "12.34", "123.4", "1234".
    static func micros(_ value: Double?) -> String {
        guard let value, value.isFinite else { return missing }
        let magnitude = abs(value)
        if magnitude >= 100 { return String(format: "%.0f", value) }
        if magnitude >= 10 { return String(format: "%.1f", value) }
        return String(format: "%.2f", value)
    }

    /// A duration given in microseconds, in the unit that keeps it short: "850 µs", "12.3 ms", "4.56 s".
    static func duration(us value: Double?) -> String {
        guard let value, value.isFinite else { return missing }
        let magnitude = abs(value)
        if magnitude < 1000 { return "\(micros(value)) µs" }
        if magnitude < 1_000_000 { return "\(significant(value / 1000)) ms" }
        return "\(significant(value / 1_000_000)) s"
    }

    /// Three significant digits, at most two decimals: 1.23, 12.3, 123.
    static func significant(_ value: Double) -> String {
        let magnitude = abs(value)
        if magnitude >= 100 { return String(format: "%.0f", value) }
        if magnitude >= 10 { return String(format: "%.1f", value) }
        return String(format: "%.2f", value)
    }

    /// Binary units: "512 B", "1.50 KiB", "12.3 MiB".
    static func bytes(_ value: UInt64?) -> String {
        guard let value else { return missing }
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var scaled = Double(value)
        var unit = 0
        while scaled >= 1024, unit < units.count - 1 {
            scaled /= 1024
            unit += 1
        }
        return unit == 0 ? "\(value) B" : "\(significant(scaled)) \(units[unit])"
    }

    static func throughput(_ value: Double?) -> String {
        guard let value, value.isFinite else { return missing }
        return value >= 100 ? String(format: "%.0f", value) : significant(value)
    }

    /// Latency as a multiple of the floor: "1.8×", "23×", "0.05×".
    static func multiple(_ value: Double?) -> String {
        guard let value, value.isFinite else { return missing }
        if value >= 10 { return String(format: "%.0f×", value) }
        if value >= 1 { return String(format: "%.1f×", value) }
        return String(format: "%.2f×", value)
    }

    /// A plain ratio with two decimals (write amplification, syncs per write).
    static func ratio(_ value: Double?) -> String {
        guard let value, value.isFinite else { return missing }
        return String(format: "%.2f", value)
    }

    /// Relative change from `old` to `new`: "+12.3%", "-4.0%"; nil when either
    /// is missing or `old` is zero (no meaningful base).
    static func change(from old: Double?, to new: Double?) -> String? {
        guard let old, let new, old.isFinite, new.isFinite, old != 0 else { return nil }
        let percent = (new - old) / abs(old) * 100
        let text = String(format: "%+.1f%%", percent)
        return text == "-0.0%" || text == "+0.0%" ? "0.0%" : text
    }

    static func memory(_ bytes: UInt64) -> String { Self.bytes(bytes) }

    static func yesNo(_ flag: Bool) -> String { flag ? "on" : "off" }
}
