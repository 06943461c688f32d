import StorageCore

/// One attribute value, with DynamoDB's ten types. Items are maps of them
/// (see `Item`); the native JSON API is a view of the same values (see
/// `AttributeValue.init(json:)` and `json`).
///
/// Strings compare by their UTF-8 bytes, never by Swift's Unicode canonical
/// equivalence, as everywhere in the store. Numbers are exact decimals.
///
/// Sets keep DynamoDB's rules: no duplicates, never empty, no order of their
/// own. Build them with `AttributeValue.set(strings:)` and its siblings,
/// which sort the elements into the one canonical order (strings and binary
/// by unsigned bytes, numbers by value) and refuse duplicates; equality and
/// the encoding treat any order of the same elements as the same set.
public indirect enum AttributeValue: Sendable {
    /// S
    case string(String)
    /// N
    case number(JSONNumber)
    /// B
    case binary(Bytes)
    /// SS
    case stringSet([String])
    /// NS
    case numberSet([JSONNumber])
    /// BS
    case binarySet([Bytes])
    /// M
    case map(AttributeMap)
    /// L
    case list([AttributeValue])
    /// NULL
    case null
    /// BOOL
    case bool(Bool)

    /// DynamoDB's name of each type, as the wire protocol and
    /// `attribute_type` spell it.
    public enum TypeName: String, Sendable, Hashable, CaseIterable {
        case string = "S"
        case number = "N"
        case binary = "B"
        case stringSet = "SS"
        case numberSet = "NS"
        case binarySet = "BS"
        case map = "M"
        case list = "L"
        case null = "NULL"
        case bool = "BOOL"
    }

    public var typeName: TypeName {
        switch self {
        case .string: .string
        case .number: .number
        case .binary: .binary
        case .stringSet: .stringSet
        case .numberSet: .numberSet
        case .binarySet: .binarySet
        case .map: .map
        case .list: .list
        case .null: .null
        case .bool: .bool
        }
    }

    // MARK: Sets

    /// A string set: sorted by UTF-8 bytes; nil when empty or when an
    /// element repeats (DynamoDB refuses both).
    public static func set(strings: [String]) -> AttributeValue? {
        let sorted = strings.sorted { $0.utf8Precedes($1) }
        guard !sorted.isEmpty, zip(sorted, sorted.dropFirst()).allSatisfy({ $0.utf8Precedes($1) }) else { return nil }
        return .stringSet(sorted)
    }

    /// A number set: sorted by value; nil when empty or when a value repeats
    /// (`1` and `1.0` are the same number).
    public static func set(numbers: [JSONNumber]) -> AttributeValue? {
        let sorted = numbers.sorted()
        guard !sorted.isEmpty, zip(sorted, sorted.dropFirst()).allSatisfy({ $0 < $1 }) else { return nil }
        return .numberSet(sorted)
    }

    /// A binary set: sorted by unsigned bytes; nil when empty or when a value repeats.
    public static func set(binaries: [Bytes]) -> AttributeValue? {
        let sorted = binaries.sorted { $0.lexicographicallyPrecedes($1) }
        guard !sorted.isEmpty, zip(sorted, sorted.dropFirst()).allSatisfy({ $0.lexicographicallyPrecedes($1) }) else {
            return nil
        }
        return .binarySet(sorted)
    }

    /// The same value with every set in canonical order (a no-op for values
    /// built with `set(strings:)` and its siblings or decoded from an `Item`).
    var normalized: AttributeValue {
        switch self {
        case .stringSet(let values): .stringSet(values.sorted { $0.utf8Precedes($1) })
        case .numberSet(let values): .numberSet(values.sorted())
        case .binarySet(let values): .binarySet(values.sorted { $0.lexicographicallyPrecedes($1) })
        case .list(let values): .list(values.map(\.normalized))
        case .map(let map): .map(AttributeMap(sortedMembers: map.members.map { .init(name: $0.name, value: $0.value.normalized) }))
        default: self
        }
    }

    // MARK: Accessors

    public var stringValue: String? {
        if case .string(let value) = self { value } else { nil }
    }

    public var numberValue: JSONNumber? {
        if case .number(let value) = self { value } else { nil }
    }

    public var mapValue: AttributeMap? {
        if case .map(let value) = self { value } else { nil }
    }

    public var listValue: [AttributeValue]? {
        if case .list(let value) = self { value } else { nil }
    }

    /// Nesting of maps and lists: 0 for a scalar or a set, 1 for an empty map.
    public var nestingDepth: Int {
        switch self {
        case .map(let map): 1 + (map.members.map(\.value.nestingDepth).max() ?? 0)
        case .list(let values): 1 + (values.map(\.nestingDepth).max() ?? 0)
        default: 0
        }
    }
}

extension AttributeValue: Hashable {
    public static func == (a: AttributeValue, b: AttributeValue) -> Bool {
        switch (a, b) {
        case let (.string(x), .string(y)): x.utf8Equals(y)
        case let (.number(x), .number(y)): x == y
        case let (.binary(x), .binary(y)): x == y
        case let (.stringSet(x), .stringSet(y)):
            x.count == y.count
                && zip(x.sorted { $0.utf8Precedes($1) }, y.sorted { $0.utf8Precedes($1) }).allSatisfy { $0.utf8Equals($1) }
        case let (.numberSet(x), .numberSet(y)): x.sorted() == y.sorted()
        case let (.binarySet(x), .binarySet(y)):
            x.sorted { $0.lexicographicallyPrecedes($1) } == y.sorted { $0.lexicographicallyPrecedes($1) }
        case let (.map(x), .map(y)): x == y
        case let (.list(x), .list(y)): x == y
        case (.null, .null): true
        case let (.bool(x), .bool(y)): x == y
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch normalized {
        case .string(let value): hasher.combine(0); hasher.combine(utf8Bytes: value)
        case .number(let value): hasher.combine(1); hasher.combine(value)
        case .binary(let value): hasher.combine(2); hasher.combine(value)
        case .stringSet(let values): hasher.combine(3); for value in values { hasher.combine(utf8Bytes: value) }
        case .numberSet(let values): hasher.combine(4); hasher.combine(values)
        case .binarySet(let values): hasher.combine(5); hasher.combine(values)
        case .map(let map): hasher.combine(6); hasher.combine(map)
        case .list(let values): hasher.combine(7); hasher.combine(values)
        case .null: hasher.combine(8)
        case .bool(let value): hasher.combine(9); hasher.combine(value)
        }
    }
}

/// A map's members, sorted by the UTF-8 bytes of their names, each name once.
/// The items of a table are maps; so are `M` values.
public struct AttributeMap: Sendable, Hashable {
    public struct Member: Sendable, Hashable {
        public let name: String
        public var value: AttributeValue

        public init(name: String, value: AttributeValue) {
            self.name = name
            self.value = value
        }

        public static func == (a: Member, b: Member) -> Bool {
            a.name.utf8Equals(b.name) && a.value == b.value
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(utf8Bytes: name)
            hasher.combine(value)
        }
    }

    /// Sorted by name bytes, names unique.
    public private(set) var members: [Member]

    public init() { members = [] }

    /// Members already sorted and unique (the decoder's and `normalized`'s case).
    init(sortedMembers: [Member]) { members = sortedMembers }

    /// A map from pairs in any order; nil when a name repeats.
    public init?(_ pairs: some Sequence<(String, AttributeValue)>) {
        let sorted = pairs.map { Member(name: $0.0, value: $0.1) }.sorted { $0.name.utf8Precedes($1.name) }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.name.utf8Equals(b.name) { return nil }
        members = sorted
    }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }
    public var names: [String] { members.map(\.name) }

    /// Where `name` is, or where it would be inserted.
    private func position(of name: String) -> (index: Int, found: Bool) {
        var low = 0
        var high = members.count
        while low < high {
            let mid = (low + high) / 2
            if members[mid].name.utf8Precedes(name) { low = mid + 1 } else { high = mid }
        }
        return (low, low < members.count && members[low].name.utf8Equals(name))
    }

    public subscript(name: String) -> AttributeValue? {
        get {
            let (index, found) = position(of: name)
            return found ? members[index].value : nil
        }
        set {
            let (index, found) = position(of: name)
            switch (newValue, found) {
            case let (value?, true): members[index].value = value
            case let (value?, false): members.insert(Member(name: name, value: value), at: index)
            case (nil, true): members.remove(at: index)
            case (nil, false): break
            }
        }
    }
}

extension AttributeMap: ExpressibleByDictionaryLiteral {
    /// A repeated name keeps its last value (literals are code, not input).
    public init(dictionaryLiteral elements: (String, AttributeValue)...) {
        self.init()
        for (name, value) in elements { self[name] = value }
    }
}

/// Literals for tests and examples. Deliberately not `ExpressibleByNilLiteral`:
/// `nil` must always mean "no value" in `AttributeValue?`, never NULL.
extension AttributeValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(JSONNumber(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: AttributeValue...) { self = .list(elements) }
    public init(dictionaryLiteral elements: (String, AttributeValue)...) {
        var map = AttributeMap()
        for (name, value) in elements { map[name] = value }
        self = .map(map)
    }
}

// MARK: The native JSON view

extension AttributeValue {
    /// The value a native JSON document stands for: strings are S, numbers
    /// N, booleans BOOL, null NULL, arrays L and objects M. Lossless.
    public init(json: JSONValue) {
        switch json {
        case .null: self = .null
        case .bool(let value): self = .bool(value)
        case .number(let value): self = .number(value)
        case .string(let value): self = .string(value)
        case .array(let elements): self = .list(elements.map(AttributeValue.init(json:)))
        case .object(let object):
            self = .map(AttributeMap(sortedMembers: object.members.map { .init(name: $0.key, value: AttributeValue(json: $0.value)) }))
        }
    }

    /// The native API's JSON for this value. JSON has no sets and no binary,
    /// so these read back in a form a later JSON write does not restore:
    /// SS and NS become arrays (in set order), B a base64 string, BS an array
    /// of base64 strings. Everything else maps back exactly.
    public var json: JSONValue {
        switch self {
        case .null: .null
        case .bool(let value): .bool(value)
        case .number(let value): .number(value)
        case .string(let value): .string(value)
        case .binary(let value): .string(Base64.encode(value))
        case .stringSet(let values): .array(values.map { .string($0) })
        case .numberSet(let values): .array(values.map { .number($0) })
        case .binarySet(let values): .array(values.map { .string(Base64.encode($0)) })
        case .list(let values): .array(values.map(\.json))
        case .map(let map):
            // Names are unique and sorted by bytes in both types.
            .object((try? JSONObject(map.members.map { ($0.name, $0.value.json) })) ?? JSONObject())
        }
    }
}

/// Standard base64 (RFC 4648 §4) with padding: how DynamoDB's JSON carries
/// binary values, and how the native API shows them.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        let bytes = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let count = min(3, bytes.count - index)
            var value: UInt32 = 0
            for offset in 0..<3 { value = value << 8 | UInt32(offset < count ? bytes[index + offset] : 0) }
            for position in 0..<4 {
                out.append(position <= count ? alphabet[Int((value >> UInt32(18 - 6 * position)) & 0x3F)] : UInt8(ascii: "="))
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Nil unless `text` is standard base64 with correct padding and zero
    /// unused bits (so each byte string has one accepted text).
    public static func decode(_ text: String) -> Bytes? {
        let characters = Array(text.utf8)
        guard characters.count % 4 == 0 else { return nil }
        var out: Bytes = []
        out.reserveCapacity(characters.count / 4 * 3)
        var index = 0
        while index < characters.count {
            let isLast = index + 4 == characters.count
            var value: UInt32 = 0
            var padding = 0
            for offset in 0..<4 {
                let character = characters[index + offset]
                let sextet: UInt32
                switch character {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): sextet = UInt32(character - UInt8(ascii: "A"))
                case UInt8(ascii: "a")...UInt8(ascii: "z"): sextet = UInt32(character - UInt8(ascii: "a") + 26)
                case UInt8(ascii: "0")...UInt8(ascii: "9"): sextet = UInt32(character - UInt8(ascii: "0") + 52)
                case UInt8(ascii: "+"): sextet = 62
                case UInt8(ascii: "/"): sextet = 63
                case UInt8(ascii: "=") where isLast && offset >= 2:
                    padding += 1
                    sextet = 0
                default: return nil
                }
                // Padding only at the very end: "A=B=" is not base64.
                if padding > 0 && character != UInt8(ascii: "=") { return nil }
                value = value << 6 | sextet
            }
            let count = 3 - padding
            if padding > 0 && value & ((1 << UInt32(8 * padding)) - 1) != 0 { return nil }
            for position in 0..<count { out.append(UInt8((value >> UInt32(16 - 8 * position)) & 0xFF)) }
            index += 4
        }
        return out
    }
}
