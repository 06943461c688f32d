/// A JSON value, so `report.json` can carry every effective option of a run
/// whatever its type, without RaftLabReport knowing the runner's config type.
///
/// Integers and fractional numbers are kept apart so a seed or a byte count
/// prints exactly; they compare equal across cases when numerically equal,
/// because JSON itself does not distinguish `1` from `1.0` and a decoded
/// report must equal the report that was written.
public enum JSONValue: Sendable, Codable, CustomStringConvertible {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else if let value = try? container.decode(JSONObject.self) {
            self = .object(value)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case let .bool(value): try container.encode(value)
        case let .integer(value): try container.encode(value)
        case let .number(value): try container.encode(value)
        case let .string(value): try container.encode(value)
        case let .array(value): try container.encode(value)
        case let .object(value): try container.encode(value)
        }
    }

    /// Compact JSON-like text for tables: strings bare, numbers as written,
    /// arrays and objects in JSON notation.
    public var description: String {
        switch self {
        case .null: "null"
        case let .bool(value): value ? "true" : "false"
        case let .integer(value): String(value)
        case let .number(value): Self.format(value)
        case let .string(value): value
        case let .array(values): "[" + values.map(\.quotedDescription).joined(separator: ", ") + "]"
        case let .object(object):
            "{" + object.entries.map { "\"\($0.key)\": \($0.value.quotedDescription)" }.joined(separator: ", ") + "}"
        }
    }

    /// Like `description` but strings quoted, for values nested in arrays and objects.
    var quotedDescription: String {
        if case let .string(value) = self { return "\"\(value)\"" }
        return description
    }

    static func format(_ value: Double) -> String {
        if value.isFinite, value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}

extension JSONValue: Equatable {
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case let (.bool(a), .bool(b)): a == b
        case let (.integer(a), .integer(b)): a == b
        case let (.number(a), .number(b)): a == b
        case let (.integer(a), .number(b)), let (.number(b), .integer(a)): Double(a) == b
        case let (.string(a), .string(b)): a == b
        case let (.array(a), .array(b)): a == b
        case let (.object(a), .object(b)): a == b
        default: false
        }
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements.map { (key: $0.0, value: $0.1) }))
    }
}

/// An ordered string → JSON map: the effective config in the order the runner
/// listed its options, so `report.md` reads like the config it came from.
///
/// `report.json` is written with sorted keys (stable diffs between runs), so
/// a decoded object lists its keys sorted; equality ignores order for that
/// reason. Setting an existing key replaces its value in place.
public struct JSONObject: Sendable, Codable, Equatable, ExpressibleByDictionaryLiteral {
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
    public func flattened(prefix: String = "") -> [(key: String, value: JSONValue)] {
        entries.flatMap { entry -> [(key: String, value: JSONValue)] in
            let key = prefix.isEmpty ? entry.key : "\(prefix).\(entry.key)"
            if case let .object(object) = entry.value, !object.isEmpty {
                return object.flattened(prefix: key)
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

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return lhs.entries.allSatisfy { rhs[$0.key] == $0.value }
    }
}
