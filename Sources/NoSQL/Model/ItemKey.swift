/// The value of a key attribute. Only strings and numbers can be keys, because
/// only they have an order-preserving byte encoding (see `OrderedKeyEncoding`).
///
/// Strings compare by UTF-8 bytes; numbers by value, so `1` and `1.0` are the
/// same key.
public enum KeyAttributeValue: Sendable, CustomStringConvertible {
    case string(String)
    case number(JSONNumber)

    /// The key value held in `json`, the attribute `name` of an item.
    public init(_ json: JSONValue, attribute name: String) throws(NoSQLError) {
        switch json {
        case .string(let value): self = .string(value)
        case .number(let value): self = .number(value)
        default:
            throw NoSQLError(
                .invalidKeyType, "key attribute \"\(name)\" must be a string or a number, not \(json.typeName)")
        }
    }

    public var jsonValue: JSONValue {
        switch self {
        case .string(let value): .string(value)
        case .number(let value): .number(value)
        }
    }

    /// The size counted against the key limits: UTF-8 bytes of a string,
    /// characters of a number's canonical text.
    public var byteSize: Int {
        switch self {
        case .string(let value): value.utf8.count
        case .number(let value): value.description.utf8.count
        }
    }

    public var description: String { jsonValue.canonicalText }
}

extension KeyAttributeValue: Hashable {
    public static func == (a: KeyAttributeValue, b: KeyAttributeValue) -> Bool {
        a.jsonValue == b.jsonValue
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(jsonValue)
    }
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
