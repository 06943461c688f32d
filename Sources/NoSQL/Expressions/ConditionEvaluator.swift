/// Evaluates conditions against an item, with DynamoDB's semantics:
///
/// - A path that does not exist has no value. A comparison, `BETWEEN`,
///   `IN`, `begins_with` or `contains` with a missing operand is false;
///   `a <> b` is `NOT (a = b)`, so it is true when either is missing.
/// - `=` and `<>` compare any two values (numbers by value, sets as sets);
///   values of different types are never equal.
/// - `<`, `<=`, `>`, `>=` and `BETWEEN` order numbers by value, strings and
///   binary by unsigned bytes; operands of different types (or of other
///   types) make them false.
/// - `size` is the length of a string in UTF-16 code units (as DynamoDB
///   counts), the bytes of a binary value, the elements of a set, list or
///   map; of any other type it has no value.
/// - A missing item (a put or update of a new item) has no attributes.
public enum ConditionEvaluator {
    public static func evaluate(_ condition: Condition, on item: AttributeMap?) -> Bool {
        let item = item ?? AttributeMap()
        switch condition {
        case let .compare(left, comparator, right):
            return compare(value(left, item), comparator, value(right, item))
        case let .between(subject, low, high):
            guard let subject = value(subject, item), let low = value(low, item), let high = value(high, item),
                let lower = order(low, subject), let upper = order(subject, high)
            else { return false }
            return lower <= 0 && upper <= 0
        case let .isIn(subject, options):
            guard let subject = value(subject, item) else { return false }
            return options.contains { option in value(option, item).map { $0 == subject } ?? false }
        case let .and(a, b):
            return evaluate(a, on: item) && evaluate(b, on: item)
        case let .or(a, b):
            return evaluate(a, on: item) || evaluate(b, on: item)
        case .not(let inner):
            return !evaluate(inner, on: item)
        case .attributeExists(let path):
            return resolve(path, in: item) != nil
        case .attributeNotExists(let path):
            return resolve(path, in: item) == nil
        case let .attributeType(path, type):
            guard let subject = resolve(path, in: item), case .string(let name)? = value(type, item) else { return false }
            return subject.typeName.rawValue == name
        case let .beginsWith(subject, prefix):
            switch (value(subject, item), value(prefix, item)) {
            case let (.string(s)?, .string(p)?): return s.utf8.starts(with: p.utf8)
            case let (.binary(s)?, .binary(p)?): return s.starts(with: p)
            default: return false
            }
        case let .contains(subject, element):
            guard let subject = value(subject, item), let element = value(element, item) else { return false }
            switch (subject, element) {
            case let (.string(s), .string(e)): return e.isEmpty || containsSubsequence(Array(s.utf8), Array(e.utf8))
            case let (.stringSet(set), .string(e)): return set.contains { $0.utf8Equals(e) }
            case let (.numberSet(set), .number(e)): return set.contains(e)
            case let (.binarySet(set), .binary(e)): return set.contains(e)
            case let (.list(list), _): return list.contains(element)
            default: return false
            }
        }
    }

    /// The value of `operand` in `item`, or nil when it has none.
    public static func value(_ operand: Operand, _ item: AttributeMap) -> AttributeValue? {
        switch operand {
        case .path(let path): return resolve(path, in: item)
        case .value(let value): return value
        case .size(let inner):
            guard let value = value(inner, item) else { return nil }
            let size: Int
            switch value {
            case .string(let string): size = string.utf16.count
            case .binary(let bytes): size = bytes.count
            case .stringSet(let set): size = set.count
            case .numberSet(let set): size = set.count
            case .binarySet(let set): size = set.count
            case .list(let list): size = list.count
            case .map(let map): size = map.count
            case .number, .null, .bool: return nil
            }
            return .number(JSONNumber(size))
        case .ifNotExists, .listAppend, .plus, .minus:
            // Update-only operands never reach a condition (the parser refuses them).
            return nil
        }
    }

    /// The value at `path`, or nil.
    public static func resolve(_ path: DocumentPath, in item: AttributeMap) -> AttributeValue? {
        var current = AttributeValue.map(item)
        for element in path.elements {
            switch (element, current) {
            case let (.name(name), .map(map)):
                guard let next = map[name] else { return nil }
                current = next
            case let (.index(index), .list(list)):
                guard index < list.count else { return nil }
                current = list[index]
            default:
                return nil
            }
        }
        return current
    }

    static func compare(_ a: AttributeValue?, _ comparator: Comparator, _ b: AttributeValue?) -> Bool {
        switch comparator {
        case .equal:
            guard let a, let b else { return false }
            return a == b
        case .notEqual:
            guard let a, let b else { return true }
            return a != b
        default:
            guard let a, let b, let order = order(a, b) else { return false }
            switch comparator {
            case .less: return order < 0
            case .lessOrEqual: return order <= 0
            case .greater: return order > 0
            default: return order >= 0
            }
        }
    }

    /// -1, 0 or 1 for two numbers, two strings or two binary values; nil otherwise.
    static func order(_ a: AttributeValue, _ b: AttributeValue) -> Int? {
        switch (a, b) {
        case let (.number(x), .number(y)): return x < y ? -1 : (x == y ? 0 : 1)
        case let (.string(x), .string(y)):
            return x.utf8.elementsEqual(y.utf8) ? 0 : (x.utf8.lexicographicallyPrecedes(y.utf8) ? -1 : 1)
        case let (.binary(x), .binary(y)): return x == y ? 0 : (x.lexicographicallyPrecedes(y) ? -1 : 1)
        default: return nil
        }
    }

    private static func containsSubsequence(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start..<start + needle.count].elementsEqual(needle) {
            return true
        }
        return false
    }
}

/// Keeps only the attributes a projection expression names.
public enum Projection {
    /// The parts of `item` at `paths`, nested as in the item. List elements
    /// keep their relative order and close up (`l[0], l[2]` gives a list of
    /// two); paths that do not exist are left out.
    public static func apply(_ paths: [DocumentPath], to item: AttributeMap) -> AttributeMap {
        project(.map(item), paths.map { ArraySlice($0.elements) })?.mapValue ?? AttributeMap()
    }

    private static func project(_ value: AttributeValue, _ tails: [ArraySlice<DocumentPath.Element>]) -> AttributeValue? {
        if tails.contains(where: \.isEmpty) { return value }
        switch value {
        case .map(let map):
            var result = AttributeMap()
            var names: [String] = []
            for tail in tails {
                if case .name(let name) = tail.first!, !names.contains(where: { $0.utf8Equals(name) }) { names.append(name) }
            }
            for name in names {
                guard let member = map[name] else { continue }
                let rest = tails.filter { if case .name(let n) = $0.first! { n.utf8Equals(name) } else { false } }.map { $0.dropFirst() }
                if let projected = project(member, rest) { result[name] = projected }
            }
            return result.isEmpty ? nil : .map(result)
        case .list(let list):
            var indexes: [Int] = []
            for tail in tails {
                if case .index(let index) = tail.first!, index < list.count, !indexes.contains(index) { indexes.append(index) }
            }
            var result: [AttributeValue] = []
            for index in indexes.sorted() {
                let rest = tails.filter { $0.first! == .index(index) }.map { $0.dropFirst() }
                if let projected = project(list[index], rest) { result.append(projected) }
            }
            return result.isEmpty ? nil : .list(result)
        default:
            return nil
        }
    }
}
