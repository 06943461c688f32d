import Foundation

extension BenchReport {
    /// `started_at` text: ISO 8601 in UTC with seconds ("2025-06-01T09:30:00Z"),
    /// so runs sort by time as strings and read the same in every time zone.
    public static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!))
    }

    /// The default output directory, `results/<date>-<label>`, with the UTC date
    /// of `date` and the label reduced to characters safe in a path.
    public static func defaultOutputDirectory(label: String, date: Date, root: String = "results") -> String {
        let day = date.formatted(
            Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!).year().month().day())
        let safe = String(label.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "-" })
        return "\(root)/\(day)-\(safe.isEmpty ? "run" : safe)"
    }
}
