import NoSQL

/// The effective config of a run, so `report.json` can carry every option
/// whatever its type, without RaftLabReport knowing the runner's config type.
///
/// Values are the project's one `JSONValue` (NoSQL's). This is not a
/// `JSONObject` because it keeps the order the runner listed its options in,
/// so `report.md` reads like the config it came from; a `JSONObject` keeps
/// its members sorted by key bytes, as the state machine needs.
///
/// `report.json` is written with sorted keys (stable diffs between runs), so
/// a decoded config lists its keys sorted; equality ignores order for that
/// reason. Setting an existing key replaces its value in place.
public struct ReportConfig: Sendable, Codable, Equatable, ExpressibleByDictionaryLiteral {
    public private(set) var entries: [(key: String, value: JSONValue)]

    public init() { entries = [] }

    public init(_ entries: [(key: String, value: JSONValue)]) {
        self.entries = []
        for entry in entries { self[entry.key] = entry.value }
    }

    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements.map { (key: $0.0, value: $0.1) })
    }

    public var keys: [String] { entries.map(\.key) }
    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    public subscript(key: String) -> JSONValue? {
        get { entries.first { $0.key == key }?.value }
        set {
            let position = entries.firstIndex { $0.key == key }
            switch (position, newValue) {
            case let (position?, value?): entries[position].value = value
            case let (position?, nil): entries.remove(at: position)
            case let (nil, value?): entries.append((key: key, value: value))
            case (nil, nil): break
            }
        }
    }

    /// Nested objects flattened to dotted keys ("raft.election_timeout_ms"),
    /// for a two-column config table.
    public func flattened() -> [(key: String, value: JSONValue)] {
        Self.flattened(entries, prefix: "")
    }

    private static func flattened(_ entries: [(key: String, value: JSONValue)], prefix: String) -> [(key: String, value: JSONValue)] {
        entries.flatMap { entry -> [(key: String, value: JSONValue)] in
            let key = prefix.isEmpty ? entry.key : "\(prefix).\(entry.key)"
            if case let .object(object) = entry.value, !object.isEmpty {
                return flattened(object.members.map { (key: $0.key, value: $0.value) }, prefix: key)
            }
            return [(key: key, value: entry.value)]
        }
    }

    private struct Field: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Field.self)
        self.init()
        // The decoder does not promise document order; the file is sorted anyway.
        for key in container.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) {
            entries.append((key: key.stringValue, value: try container.decode(JSONValue.self, forKey: key)))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Field.self)
        for entry in entries { try container.encode(entry.value, forKey: Field(stringValue: entry.key)) }
    }

    public static func == (lhs: ReportConfig, rhs: ReportConfig) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return lhs.entries.allSatisfy { rhs[$0.key] == $0.value }
    }
}

extension JSONValue {
    /// Compact JSON-like text for report tables: strings bare, numbers as
    /// written, arrays and objects in JSON notation (`["a", 1]`, `{"k": 2}`).
    /// Not `description`, which is the canonical text (strings quoted).
    var reportText: String {
        switch self {
        case .null: "null"
        case let .bool(value): value ? "true" : "false"
        case let .number(number): Self.reportText(number)
        case let .string(value): value
        case let .array(values): "[" + values.map(\.quotedReportText).joined(separator: ", ") + "]"
        case let .object(object):
            "{" + object.members.map { "\"\($0.key)\": \($0.value.quotedReportText)" }.joined(separator: ", ") + "}"
        }
    }

    /// Like `reportText` but strings quoted, for values nested in arrays and objects.
    var quotedReportText: String {
        if case let .string(value) = self { return "\"\(value)\"" }
        return reportText
    }

    /// An integer as its digits; anything else as its Double, whole values
    /// below 10^15 without ".0" ("0.25", "1e-05", "1e+20").
    static func reportText(_ number: JSONNumber) -> String {
        if let integer = number.int64Value { return String(integer) }
        let value = number.doubleValue
        if value.isFinite, value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
