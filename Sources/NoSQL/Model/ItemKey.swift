import StorageCore

/// The value of a key attribute. Only strings, numbers and binary values can
/// be keys, because only they have an order-preserving byte encoding (see
/// `OrderedKeyEncoding`).
///
/// Strings and binary values compare by their bytes; numbers by value, so
/// `1` and `1.0` are the same key.
public enum KeyAttributeValue: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case number(JSONNumber)
    case binary(Bytes)

    /// The key value held in `json`, the attribute `name` of a native item.
    public init(_ json: JSONValue, attribute name: String) throws(NoSQLError) {
        switch json {
        case .string(let value): self = .string(value)
        case .number(let value): self = .number(value)
        default:
            throw NoSQLError(
                .invalidKeyType, "key attribute \"\(name)\" must be a string or a number, not \(json.typeName)")
        }
    }

    /// The key value held in `value`, the attribute `name` of an item.
    public init(_ value: AttributeValue, attribute name: String) throws(NoSQLError) {
        switch value {
        case .string(let string): self = .string(string)
        case .number(let number): self = .number(number)
        case .binary(let bytes): self = .binary(bytes)
        default:
            throw NoSQLError(
                .invalidKeyType,
                "key attribute \"\(name)\" must be a string, a number or binary, not \(value.typeName.rawValue)")
        }
    }

    public var attributeValue: AttributeValue {
        switch self {
        case .string(let value): .string(value)
        case .number(let value): .number(value)
        case .binary(let value): .binary(value)
        }
    }

    /// The native JSON view (binary as base64, see `AttributeValue.json`).
    public var jsonValue: JSONValue { attributeValue.json }

    public var type: KeyAttributeType {
        switch self {
        case .string: .string
        case .number: .number
        case .binary: .binary
        }
    }

    /// The size counted against the key limits: UTF-8 bytes of a string,
    /// characters of a number's canonical text, bytes of a binary value.
    public var byteSize: Int {
        switch self {
        case .string(let value): value.utf8.count
        case .number(let value): value.description.utf8.count
        case .binary(let value): value.count
        }
    }

    public var description: String { jsonValue.canonicalText }

    public static func == (a: KeyAttributeValue, b: KeyAttributeValue) -> Bool {
        a.attributeValue == b.attributeValue
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(attributeValue)
    }
}

/// The type a table declares for a key attribute (DynamoDB's
/// `AttributeDefinitions`). Tables created through the native API declare
/// none and take strings and numbers.
public enum KeyAttributeType: String, Sendable, Hashable, CaseIterable {
    case string = "S"
    case number = "N"
    case binary = "B"
}

/// The primary key of an item: its partition key value, and its sort key
/// value when the table has a sort key.
public struct ItemKey: Sendable, Hashable, CustomStringConvertible {
    public var partition: KeyAttributeValue
    public var sort: KeyAttributeValue?

    public init(partition: KeyAttributeValue, sort: KeyAttributeValue? = nil) {
        self.partition = partition
        self.sort = sort
    }

    /// Shorthand for string keys, the common case.
    public init(_ partition: String, _ sort: String? = nil) {
        self.init(partition: .string(partition), sort: sort.map { .string($0) })
    }

    public var description: String {
        sort.map { "(\(partition), \($0))" } ?? "(\(partition))"
    }
}
