/// One JSON value, keeping its JSON type: a number never turns into a bool or
/// a string, unlike Foundation's JSONSerialization on Linux.
///
/// Strings compare by their UTF-8 bytes, not by Swift's Unicode canonical
/// equivalence: "é" written precomposed and as "e" + U+0301 are different
/// values, as they are different bytes on the wire and in the store. Nothing
/// is normalized.
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// Parses one strict RFC 8259 value; see `JSONParser` for the rules.
    public static func parse(
        _ bytes: some Collection<UInt8>, maxDepth: Int = NoSQLLimits.default.maxNestingDepth
    ) throws(NoSQLError) -> JSONValue {
        try JSONParser.parse(Array(bytes), maxDepth: maxDepth)
    }

    public static func parse(
        _ text: String, maxDepth: Int = NoSQLLimits.default.maxNestingDepth
    ) throws(NoSQLError) -> JSONValue {
        try JSONParser.parse(Array(text.utf8), maxDepth: maxDepth)
    }

    public var stringValue: String? {
        if case .string(let value) = self { value } else { nil }
    }

    public var numberValue: JSONNumber? {
        if case .number(let value) = self { value } else { nil }
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { value } else { nil }
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { value } else { nil }
    }

    public var objectValue: JSONObject? {
        if case .object(let value) = self { value } else { nil }
    }

    public var isNull: Bool {
        if case .null = self { true } else { false }
    }

    /// The member `key` of an object; nil for other values or a missing key.
    public subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }

    /// The JSON type's name, for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// How many arrays and objects are nested here: 0 for a scalar, 1 for `{}`.
    public var nestingDepth: Int {
        switch self {
        case .null, .bool, .number, .string: 0
        case .array(let elements): 1 + (elements.map(\.nestingDepth).max() ?? 0)
        case .object(let object): 1 + (object.members.map(\.value.nestingDepth).max() ?? 0)
        }
    }
}

extension JSONValue: Hashable {
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case let (.bool(x), .bool(y)): x == y
        case let (.number(x), .number(y)): x == y
        case let (.string(x), .string(y)): x.utf8.elementsEqual(y.utf8)
        case let (.array(x), .array(y)): x == y
        case let (.object(x), .object(y)): x == y
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let value): hasher.combine(1); hasher.combine(value)
        case .number(let value): hasher.combine(2); hasher.combine(value)
        case .string(let value): hasher.combine(3); hasher.combine(utf8Bytes: value)
        case .array(let value): hasher.combine(4); hasher.combine(value)
        case .object(let value): hasher.combine(5); hasher.combine(value)
        }
    }
}

extension JSONValue: CustomStringConvertible {
    /// The canonical text.
    public var description: String { canonicalText }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(JSONNumber(value)) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// A repeated key in a literal keeps its last value (a literal is code,
    /// not client input; parsed text refuses duplicates instead).
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(lastValueWins: elements))
    }
}

extension Hasher {
    /// Hashes a string by its UTF-8 bytes, matching byte-wise equality.
    mutating func combine(utf8Bytes string: String) {
        combine(string.utf8.count)
        for byte in string.utf8 { combine(byte) }
    }
}

extension String {
    /// Unsigned byte order of the UTF-8 encodings: the order of the store.
    func utf8Precedes(_ other: String) -> Bool {
        utf8.lexicographicallyPrecedes(other.utf8)
    }

    func utf8Equals(_ other: String) -> Bool {
        utf8.elementsEqual(other.utf8)
    }
}
