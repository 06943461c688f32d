/// Applies an update expression to an item, with DynamoDB's semantics:
///
/// - Every value on the right of SET is computed from the item as it was
///   before the update (`SET a = :x, b = a` gives b the old a).
/// - SET creates or replaces the value at a path; the path's parent must
///   exist (a map for a name, a list for an index). An index past the end
///   of a list appends.
/// - REMOVE deletes the value at a path (nothing happens when it is absent);
///   list elements after it move down. Several indexes of one list refer to
///   the original positions.
/// - ADD adds a number to a number (an absent value counts as 0) or adds the
///   elements of a set to a set of the same type (an absent set counts as empty).
/// - DELETE removes elements from a set; a set left empty is removed.
/// - `+`, `-` need numbers; `list_append` needs lists; `if_not_exists(p, v)`
///   is the value at p, or v when p has none. Arithmetic is exact, and a
///   result DynamoDB cannot store (over 38 digits, magnitude out of range)
///   is an error.
/// - Key attributes cannot be updated.
///
/// Failures are `invalid_update` errors with DynamoDB's messages.
public enum UpdateEvaluator {
    public static func apply(_ update: UpdateExpression, to item: inout AttributeMap, schema: TableSchema) throws(NoSQLError) {
        for path in update.updatedPaths where schema.isKeyAttribute(path.attribute) {
            throw NoSQLError(
                .invalidUpdate,
                "One or more parameter values were invalid: Cannot update attribute \(path.attribute). This attribute is part of the key")
        }
        let original = item
        // Right-hand sides first, all from the original item.
        var assignments: [(DocumentPath, AttributeValue)] = []
        for (path, operand) in update.assignments {
            assignments.append((path, try evaluate(operand, in: original)))
        }
        for (path, value) in assignments {
            try set(value, at: path, in: &item)
        }
        // Highest list indexes first, so that earlier removals do not shift later ones.
        for path in update.removals.sorted(by: removalOrder) {
            try remove(path, from: &item)
        }
        for (path, value) in update.additions {
            let existing = ConditionEvaluator.resolve(path, in: item)
            let result: AttributeValue
            switch (existing, value) {
            case (nil, _):
                result = value
            case let (.number(a)?, .number(b)):
                result = .number(try checked(a.adding(b)))
            case let (.stringSet(a)?, .stringSet(b)):
                result = AttributeValue.set(strings: a + b.filter { e in !a.contains { $0.utf8Equals(e) } }) ?? .stringSet(a)
            case let (.numberSet(a)?, .numberSet(b)):
                result = AttributeValue.set(numbers: a + b.filter { !a.contains($0) }) ?? .numberSet(a)
            case let (.binarySet(a)?, .binarySet(b)):
                result = AttributeValue.set(binaries: a + b.filter { !a.contains($0) }) ?? .binarySet(a)
            default:
                throw incorrectType
            }
            try set(result, at: path, in: &item)
        }
        for (path, value) in update.deletions {
            guard let existing = ConditionEvaluator.resolve(path, in: item) else { continue }
            let remaining: AttributeValue?
            switch (existing, value) {
            case let (.stringSet(a), .stringSet(b)):
                remaining = AttributeValue.set(strings: a.filter { e in !b.contains { $0.utf8Equals(e) } })
            case let (.numberSet(a), .numberSet(b)):
                remaining = AttributeValue.set(numbers: a.filter { !b.contains($0) })
            case let (.binarySet(a), .binarySet(b)):
                remaining = AttributeValue.set(binaries: a.filter { !b.contains($0) })
            default:
                throw incorrectType
            }
            if let remaining { try set(remaining, at: path, in: &item) } else { try remove(path, from: &item) }
        }
    }

    static let incorrectType = NoSQLError(.invalidUpdate, "An operand in the update expression has an incorrect data type")
    static let missingAttribute = NoSQLError(
        .invalidUpdate, "The provided expression refers to an attribute that does not exist in the item")
    static let invalidPath = NoSQLError(
        .invalidUpdate, "The document path provided in the update expression is invalid for update")

    static func evaluate(_ operand: Operand, in item: AttributeMap) throws(NoSQLError) -> AttributeValue {
        switch operand {
        case .path(let path):
            guard let value = ConditionEvaluator.resolve(path, in: item) else { throw missingAttribute }
            return value
        case .value(let value):
            return value
        case let .ifNotExists(path, fallback):
            if let value = ConditionEvaluator.resolve(path, in: item) { return value }
            return try evaluate(fallback, in: item)
        case let .listAppend(first, second):
            guard case .list(let a) = try evaluate(first, in: item), case .list(let b) = try evaluate(second, in: item) else {
                throw incorrectType
            }
            return .list(a + b)
        case let .plus(first, second):
            let (a, b) = try numbers(first, second, in: item)
            return .number(try checked(a.adding(b)))
        case let .minus(first, second):
            let (a, b) = try numbers(first, second, in: item)
            return .number(try checked(a.subtracting(b)))
        case .size:
            // The parser allows size only in conditions.
            throw incorrectType
        }
    }

    private static func numbers(_ first: Operand, _ second: Operand, in item: AttributeMap) throws(NoSQLError) -> (JSONNumber, JSONNumber) {
        let a = try evaluate(first, in: item)
        let b = try evaluate(second, in: item)
        guard case .number(let x) = a, case .number(let y) = b else { throw incorrectType }
        return (x, y)
    }

    /// An arithmetic result DynamoDB can store. Like DynamoDB, a result that
    /// needs more than 38 digits is reported as an overflow.
    static func checked(_ result: JSONNumber?) throws(NoSQLError) -> JSONNumber {
        guard let result else { throw NoSQLError(.invalidUpdate, JSONNumber.DynamoDBLimit.overflow.message) }
        switch result.dynamoDBLimitExceeded {
        case nil: return result
        case .tooManyDigits?, .overflow?: throw NoSQLError(.invalidUpdate, JSONNumber.DynamoDBLimit.overflow.message)
        case .underflow?: throw NoSQLError(.invalidUpdate, JSONNumber.DynamoDBLimit.underflow.message)
        }
    }

    /// Sets the value at `path`; the parent must exist.
    static func set(_ value: AttributeValue, at path: DocumentPath, in item: inout AttributeMap) throws(NoSQLError) {
        var root = AttributeValue.map(item)
        try modify(&root, path.elements[...]) { (slot: inout AttributeValue?) in slot = value }
        item = root.mapValue ?? item
    }

    static func remove(_ path: DocumentPath, from item: inout AttributeMap) throws(NoSQLError) {
        var root = AttributeValue.map(item)
        do {
            try modify(&root, path.elements[...]) { (slot: inout AttributeValue?) in slot = nil }
        } catch {
            // Removing something whose parent is missing changes nothing,
            // unless the parent exists with the wrong type.
            if parentExistsWithWrongType(path, item) { throw error }
            return
        }
        item = root.mapValue ?? item
    }

    private static func parentExistsWithWrongType(_ path: DocumentPath, _ item: AttributeMap) -> Bool {
        guard path.elements.count > 1 else { return false }
        let parent = DocumentPath(Array(path.elements.dropLast()))
        guard let value = ConditionEvaluator.resolve(parent, in: item) else { return false }
        switch (path.elements.last!, value) {
        case (.name, .map), (.index, .list): return false
        default: return true
        }
    }

    /// Walks to the slot at `elements` inside `container` and lets `change`
    /// set or clear it. Throws `invalidPath` when a parent is missing or of
    /// the wrong type.
    private static func modify(
        _ container: inout AttributeValue, _ elements: ArraySlice<DocumentPath.Element>,
        _ change: (inout AttributeValue?) -> Void
    ) throws(NoSQLError) {
        let element = elements.first!
        let rest = elements.dropFirst()
        switch (element, container) {
        case (.name(let name), .map(var map)):
            var slot = map[name]
            if rest.isEmpty {
                change(&slot)
            } else {
                guard var child = slot else { throw invalidPath }
                try modify(&child, rest, change)
                slot = child
            }
            map[name] = slot
            container = .map(map)
        case (.index(let index), .list(var list)):
            if rest.isEmpty {
                var slot: AttributeValue? = index < list.count ? list[index] : nil
                change(&slot)
                switch (slot, index < list.count) {
                case let (value?, true): list[index] = value
                case let (value?, false): list.append(value)
                case (nil, true): list.remove(at: index)
                case (nil, false): break
                }
            } else {
                guard index < list.count else { throw invalidPath }
                var child = list[index]
                try modify(&child, rest, change)
                list[index] = child
            }
            container = .list(list)
        default:
            throw invalidPath
        }
    }

    /// Sorts removals so that, within one list, higher indexes go first.
    private static func removalOrder(_ a: DocumentPath, _ b: DocumentPath) -> Bool {
        for (x, y) in zip(a.elements, b.elements) where x != y {
            switch (x, y) {
            case let (.index(i), .index(j)): return i > j
            case let (.name(m), .name(n)): return m.utf8Precedes(n)
            case (.name, .index): return true
            case (.index, .name): return false
            }
        }
        return a.elements.count > b.elements.count
    }
}
