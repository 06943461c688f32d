/// The parsed forms of DynamoDB's expressions: condition, filter and key
/// condition expressions (`Condition`), update expressions
/// (`UpdateExpression`) and projection expressions (`[DocumentPath]`).
///
/// Placeholders are already resolved: `#name` became the name it stands for
/// and `:value` the value, so a parsed expression depends on nothing else.

/// Which expression parameter a text came from; error messages name it, as
/// DynamoDB's do ("Invalid UpdateExpression: ...").
public enum ExpressionKind: String, Sendable, Hashable {
    case condition = "ConditionExpression"
    case filter = "FilterExpression"
    case keyCondition = "KeyConditionExpression"
    case update = "UpdateExpression"
    case projection = "ProjectionExpression"
}

/// A path into an item: a top-level attribute name, then map member names
/// and list indexes (`Tags[0].name`).
public struct DocumentPath: Sendable, Hashable, CustomStringConvertible {
    public enum Element: Sendable, Hashable {
        case name(String)
        case index(Int)

        public static func == (a: Element, b: Element) -> Bool {
            switch (a, b) {
            case let (.name(x), .name(y)): x.utf8Equals(y)
            case let (.index(x), .index(y)): x == y
            default: false
            }
        }

        public func hash(into hasher: inout Hasher) {
            switch self {
            case .name(let name): hasher.combine(0); hasher.combine(utf8Bytes: name)
            case .index(let index): hasher.combine(1); hasher.combine(index)
            }
        }
    }

    /// Never empty; the first element is always a name.
    public var elements: [Element]

    public init(_ elements: [Element]) {
        self.elements = elements
    }

    /// A top-level attribute.
    public init(attribute name: String) {
        elements = [.name(name)]
    }

    /// The top-level attribute the path starts at.
    public var attribute: String {
        if case .name(let name) = elements.first { return name }
        return ""
    }

    /// As DynamoDB prints paths in messages: `[a, b, [0]]`.
    public var description: String {
        "[" + elements.map { element in
            switch element {
            case .name(let name): name
            case .index(let index): "[\(index)]"
            }
        }.joined(separator: ", ") + "]"
    }

    /// True when one path is a prefix of the other (including equal paths).
    func overlaps(_ other: DocumentPath) -> Bool {
        let shorter = min(elements.count, other.elements.count)
        return elements.prefix(shorter) == other.elements.prefix(shorter)
    }
}

/// A value in an expression: read from the item, given as a placeholder, or
/// computed by a function or arithmetic.
public indirect enum Operand: Sendable, Hashable {
    case path(DocumentPath)
    case value(AttributeValue)
    /// `size(path)`: conditions only.
    case size(Operand)
    /// `if_not_exists(path, operand)`: update expressions only.
    case ifNotExists(DocumentPath, Operand)
    /// `list_append(a, b)`: update expressions only.
    case listAppend(Operand, Operand)
    /// `a + b`: update expressions only.
    case plus(Operand, Operand)
    /// `a - b`: update expressions only.
    case minus(Operand, Operand)
}

public enum Comparator: String, Sendable, Hashable {
    case equal = "="
    case notEqual = "<>"
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="

    /// The comparator with its operands swapped (`a < b` is `b > a`).
    public var mirrored: Comparator {
        switch self {
        case .equal, .notEqual: self
        case .less: .greater
        case .lessOrEqual: .greaterOrEqual
        case .greater: .less
        case .greaterOrEqual: .lessOrEqual
        }
    }
}

/// A condition: a comparison, a function, or a boolean combination.
public indirect enum Condition: Sendable, Hashable {
    case compare(Operand, Comparator, Operand)
    /// `a BETWEEN low AND high`.
    case between(Operand, Operand, Operand)
    /// `a IN (b, c, ...)`.
    case isIn(Operand, [Operand])
    case and(Condition, Condition)
    case or(Condition, Condition)
    case not(Condition)
    case attributeExists(DocumentPath)
    case attributeNotExists(DocumentPath)
    /// `attribute_type(path, :type)`.
    case attributeType(DocumentPath, Operand)
    case beginsWith(Operand, Operand)
    case contains(Operand, Operand)
}

/// An update expression: its four clauses, each at most once.
public struct UpdateExpression: Sendable, Hashable {
    /// `SET path = value`.
    public var assignments: [(path: DocumentPath, value: Operand)] = []
    /// `REMOVE path`.
    public var removals: [DocumentPath] = []
    /// `ADD path :value`: numbers add, sets union.
    public var additions: [(path: DocumentPath, value: AttributeValue)] = []
    /// `DELETE path :set`: set difference.
    public var deletions: [(path: DocumentPath, value: AttributeValue)] = []

    public init() {}

    /// Every path the update writes or removes, in clause order.
    public var updatedPaths: [DocumentPath] {
        assignments.map(\.path) + removals + additions.map(\.path) + deletions.map(\.path)
    }

    public static func == (a: UpdateExpression, b: UpdateExpression) -> Bool {
        a.assignments.map(\.path) == b.assignments.map(\.path) && a.assignments.map(\.value) == b.assignments.map(\.value)
            && a.removals == b.removals
            && a.additions.map(\.path) == b.additions.map(\.path) && a.additions.map(\.value) == b.additions.map(\.value)
            && a.deletions.map(\.path) == b.deletions.map(\.path) && a.deletions.map(\.value) == b.deletions.map(\.value)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(assignments.map(\.path))
        hasher.combine(assignments.map(\.value))
        hasher.combine(removals)
        hasher.combine(additions.map(\.path))
        hasher.combine(deletions.map(\.path))
    }
}

/// The `ExpressionAttributeNames` and `ExpressionAttributeValues` of a
/// request: what `#name` and `:value` placeholders stand for.
public struct ExpressionAttributes: Sendable, Hashable {
    public var names: [String: String]
    public var values: [String: AttributeValue]

    public init(names: [String: String] = [:], values: [String: AttributeValue] = [:]) {
        self.names = names
        self.values = values
    }

    public var isEmpty: Bool { names.isEmpty && values.isEmpty }
}

/// The placeholders the expressions of one request used, so that the
/// request can be refused when it defines one that no expression uses
/// (DynamoDB refuses those too).
public struct ExpressionUsage: Sendable, Hashable {
    public var names: Set<String> = []
    public var values: Set<String> = []

    public init() {}

    /// Throws DynamoDB's error for the first unused placeholder.
    public func checkAllUsed(_ attributes: ExpressionAttributes) throws(NoSQLError) {
        let unusedValues = attributes.values.keys.filter { !values.contains($0) }.sorted()
        if !unusedValues.isEmpty {
            throw NoSQLError(
                .invalidExpression,
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {\(unusedValues.joined(separator: ", "))}")
        }
        let unusedNames = attributes.names.keys.filter { !names.contains($0) }.sorted()
        if !unusedNames.isEmpty {
            throw NoSQLError(
                .invalidExpression,
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {\(unusedNames.joined(separator: ", "))}")
        }
    }
}
