import StorageCore

/// An item (or any attribute value) in its canonical binary form: the bytes
/// every node stores and every log entry carries for it.
///
/// An `Item` is always well formed: it comes from encoding an
/// `AttributeValue` or from `init(validating:)`. Equal values have equal
/// bytes, so comparing items, hashing them and copying them between records
/// never needs a decode (a put stores the new bytes and the previous
/// version's bytes as they are).
///
/// A valid item is a map (`isMap`); the state machine refuses anything else.
///
///     value = 0x00                              NULL
///           | 0x01 | 0x02                       BOOL false | true
///           | 0x03 str(canonical number)        N   (`JSONNumber.description`)
///           | 0x04 str(UTF-8)                   S
///           | 0x05 str(bytes)                   B
///           | 0x06 u32 count ‖ str(UTF-8)*      SS  strictly ascending bytes
///           | 0x07 u32 count ‖ str(number)*     NS  strictly ascending values
///           | 0x08 u32 count ‖ str(bytes)*      BS  strictly ascending bytes
///           | 0x09 u32 count ‖ value*           L
///           | 0x0A u32 count ‖ (str(name) ‖ value)*   M  names strictly ascending bytes
///     str   = u32 length ‖ bytes; integers big-endian
///
/// Sets are never empty. Decoding accepts only this exact form, so one value
/// has one encoding.
public struct Item: Sendable, Hashable, CustomStringConvertible {
    public let bytes: Bytes

    init(uncheckedBytes bytes: Bytes) {
        self.bytes = bytes
    }

    public init(_ value: AttributeValue) {
        var out: Bytes = []
        ItemCodec.encode(value.normalized, into: &out)
        bytes = out
    }

    public init(_ map: AttributeMap) {
        self.init(.map(map))
    }

    /// The item a native JSON document stands for (see `AttributeValue.init(json:)`).
    public init(json: JSONValue) {
        self.init(AttributeValue(json: json))
    }

    /// Checks that `bytes` are a canonical encoding nested at most
    /// `maxDepth` levels; throws `invalid_item` with the reason otherwise.
    public init(validating bytes: Bytes, maxDepth: Int = NoSQLLimits.maxSupportedNestingDepth) throws(NoSQLError) {
        _ = try ItemCodec.validate(bytes, maxDepth: maxDepth)
        self.bytes = bytes
    }

    /// The decoded value. Items are validated when built, so this cannot
    /// fail; a damaged one (impossible short of memory corruption) reads as NULL.
    public var value: AttributeValue {
        (try? ItemCodec.decode(bytes)) ?? .null
    }

    /// The attributes, for a map (every valid item).
    public var attributes: AttributeMap {
        value.mapValue ?? AttributeMap()
    }

    public var isMap: Bool { bytes.first == ItemCodec.Tag.map.rawValue }

    /// The native API's JSON for this item (see `AttributeValue.json`).
    public var json: JSONValue { value.json }

    /// One top-level attribute, decoding only that value.
    public subscript(name: String) -> AttributeValue? {
        (try? ItemCodec.topLevelValue(named: name, in: bytes)) ?? nil
    }

    /// The size DynamoDB charges and limits (400 KB): for each attribute its
    /// name's UTF-8 bytes plus its value's size; strings and binary by their
    /// bytes, numbers 1 byte per two significant digits plus 1, NULL and BOOL
    /// 1, sets the sum of their elements, maps and lists 3 bytes plus 1 per
    /// element plus the elements (and names).
    public var size: Int {
        ItemCodec.quickSize(bytes)
    }

    /// Nesting of maps and lists, the item itself being 1.
    public var nestingDepth: Int {
        (try? ItemCodec.validate(bytes, maxDepth: .max).depth) ?? 0
    }

    public var description: String { json.canonicalText }
}

/// The encoder, validator and decoder of `Item`'s format.
enum ItemCodec {
    enum Tag: UInt8 {
        case null = 0x00, boolFalse = 0x01, boolTrue = 0x02, number = 0x03, string = 0x04, binary = 0x05
        case stringSet = 0x06, numberSet = 0x07, binarySet = 0x08, list = 0x09, map = 0x0A
    }

    // MARK: Encoding

    static func encode(_ value: AttributeValue, into out: inout Bytes) {
        switch value {
        case .null: out.append(Tag.null.rawValue)
        case .bool(let flag): out.append(flag ? Tag.boolTrue.rawValue : Tag.boolFalse.rawValue)
        case .number(let number):
            out.append(Tag.number.rawValue)
            appendString(number.description.utf8, to: &out)
        case .string(let string):
            out.append(Tag.string.rawValue)
            appendString(string.utf8, to: &out)
        case .binary(let bytes):
            out.append(Tag.binary.rawValue)
            appendString(bytes, to: &out)
        case .stringSet(let values):
            out.append(Tag.stringSet.rawValue)
            appendCount(values.count, to: &out)
            for value in values { appendString(value.utf8, to: &out) }
        case .numberSet(let values):
            out.append(Tag.numberSet.rawValue)
            appendCount(values.count, to: &out)
            for value in values { appendString(value.description.utf8, to: &out) }
        case .binarySet(let values):
            out.append(Tag.binarySet.rawValue)
            appendCount(values.count, to: &out)
            for value in values { appendString(value, to: &out) }
        case .list(let values):
            out.append(Tag.list.rawValue)
            appendCount(values.count, to: &out)
            for value in values { encode(value, into: &out) }
        case .map(let map):
            out.append(Tag.map.rawValue)
            appendCount(map.count, to: &out)
            for member in map.members {
                appendString(member.name.utf8, to: &out)
                encode(member.value, into: &out)
            }
        }
    }

    private static func appendCount(_ count: Int, to out: inout Bytes) {
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: count).bigEndian) { out.append(contentsOf: $0) }
    }

    private static func appendString(_ bytes: some Collection<UInt8>, to out: inout Bytes) {
        appendCount(bytes.count, to: &out)
        out.append(contentsOf: bytes)
    }

    // MARK: Reading

    /// A bounds-checked cursor; every failure is an `invalid_item` error.
    struct Cursor {
        let bytes: Bytes
        var position: Int

        init(_ bytes: Bytes, at position: Int = 0) {
            self.bytes = bytes
            self.position = position
        }

        var isAtEnd: Bool { position == bytes.count }

        mutating func byte() throws(NoSQLError) -> UInt8 {
            guard position < bytes.count else { throw ItemCodec.truncated }
            defer { position += 1 }
            return bytes[position]
        }

        mutating func count() throws(NoSQLError) -> Int {
            guard bytes.count - position >= 4 else { throw ItemCodec.truncated }
            var value = 0
            for offset in 0..<4 { value = value << 8 | Int(bytes[position + offset]) }
            position += 4
            return value
        }

        /// The range of a length-prefixed field.
        mutating func field() throws(NoSQLError) -> Range<Int> {
            let length = try count()
            guard bytes.count - position >= length else { throw ItemCodec.truncated }
            defer { position += length }
            return position..<position + length
        }

        mutating func string() throws(NoSQLError) -> String {
            let range = try field()
            guard let string = String(validating: bytes[range], as: UTF8.self) else {
                throw NoSQLError(.invalidItem, "an attribute name or string is not valid UTF-8")
            }
            return string
        }

        mutating func number() throws(NoSQLError) -> JSONNumber {
            let range = try field()
            let text = String(decoding: bytes[range], as: UTF8.self)
            guard let number = JSONNumber(text), number.description.utf8.elementsEqual(bytes[range]) else {
                throw NoSQLError(.invalidItem, "a number is not in canonical form")
            }
            return number
        }

        /// Skips one value without checking it (the bytes were validated).
        mutating func skipValue() throws(NoSQLError) {
            guard let tag = Tag(rawValue: try byte()) else { throw ItemCodec.unknownTag }
            switch tag {
            case .null, .boolFalse, .boolTrue: return
            case .number, .string, .binary: _ = try field()
            case .stringSet, .numberSet, .binarySet:
                for _ in 0..<(try count()) { _ = try field() }
            case .list:
                for _ in 0..<(try count()) { try skipValue() }
            case .map:
                for _ in 0..<(try count()) {
                    _ = try field()
                    try skipValue()
                }
            }
        }
    }

    static let truncated = NoSQLError(.invalidItem, "the item encoding is truncated")
    static let unknownTag = NoSQLError(.invalidItem, "unknown attribute type tag in the item encoding")

    // MARK: Validation

    struct Summary {
        /// Nesting of maps and lists, a map item being 1.
        var depth: Int
        /// DynamoDB's size of the value.
        var valueSize: Int
        /// DynamoDB's size of an item: the value size of a map without its
        /// own 3-byte and per-member overhead.
        var itemSize: Int
    }

    /// Checks canonical form without building the value. Numbers are parsed
    /// (to check their form and the order of number sets), nothing else allocates.
    static func validate(_ bytes: Bytes, maxDepth: Int) throws(NoSQLError) -> Summary {
        var cursor = Cursor(bytes)
        let (depth, size, topLevelOverhead) = try validateValue(&cursor, depth: 1, maxDepth: maxDepth)
        guard cursor.isAtEnd else { throw NoSQLError(.invalidItem, "trailing bytes after the item encoding") }
        return Summary(depth: depth, valueSize: size, itemSize: size - topLevelOverhead)
    }

    /// Returns (nesting depth, DynamoDB size, the map/list overhead counted at this level).
    private static func validateValue(
        _ cursor: inout Cursor, depth: Int, maxDepth: Int
    ) throws(NoSQLError) -> (depth: Int, size: Int, overhead: Int) {
        guard let tag = Tag(rawValue: try cursor.byte()) else { throw unknownTag }
        switch tag {
        case .null, .boolFalse, .boolTrue:
            return (0, 1, 0)
        case .number:
            return (0, numberSize(try cursor.number()), 0)
        case .string:
            return (0, (try cursor.string()).utf8.count, 0)
        case .binary:
            return (0, (try cursor.field()).count, 0)
        case .stringSet:
            let count = try cursor.count()
            guard count > 0 else { throw emptySet }
            var previous: Range<Int>?
            var size = 0
            for _ in 0..<count {
                let range = try cursor.field()
                guard String(validating: cursor.bytes[range], as: UTF8.self) != nil else {
                    throw NoSQLError(.invalidItem, "a string set element is not valid UTF-8")
                }
                if let previous, !cursor.bytes[previous].lexicographicallyPrecedes(cursor.bytes[range]) { throw unsortedSet }
                previous = range
                size += range.count
            }
            return (0, size, 0)
        case .numberSet:
            let count = try cursor.count()
            guard count > 0 else { throw emptySet }
            var previous: JSONNumber?
            var size = 0
            for _ in 0..<count {
                let number = try cursor.number()
                if let previous, !(previous < number) { throw unsortedSet }
                previous = number
                size += numberSize(number)
            }
            return (0, size, 0)
        case .binarySet:
            let count = try cursor.count()
            guard count > 0 else { throw emptySet }
            var previous: Range<Int>?
            var size = 0
            for _ in 0..<count {
                let range = try cursor.field()
                if let previous, !cursor.bytes[previous].lexicographicallyPrecedes(cursor.bytes[range]) { throw unsortedSet }
                previous = range
                size += range.count
            }
            return (0, size, 0)
        case .list:
            guard depth <= maxDepth else { throw tooDeep(maxDepth) }
            let count = try cursor.count()
            var deepest = 0
            var size = 3
            for _ in 0..<count {
                let element = try validateValue(&cursor, depth: depth + 1, maxDepth: maxDepth)
                deepest = max(deepest, element.depth)
                size += 1 + element.size
            }
            return (1 + deepest, size, 3 + count)
        case .map:
            guard depth <= maxDepth else { throw tooDeep(maxDepth) }
            let count = try cursor.count()
            var deepest = 0
            var size = 3
            var previous: Range<Int>?
            for _ in 0..<count {
                let name = try cursor.field()
                guard String(validating: cursor.bytes[name], as: UTF8.self) != nil else {
                    throw NoSQLError(.invalidItem, "an attribute name is not valid UTF-8")
                }
                if let previous, !cursor.bytes[previous].lexicographicallyPrecedes(cursor.bytes[name]) {
                    throw NoSQLError(.invalidItem, "map member names are not in ascending order, or one repeats")
                }
                previous = name
                let member = try validateValue(&cursor, depth: depth + 1, maxDepth: maxDepth)
                deepest = max(deepest, member.depth)
                size += 1 + name.count + member.size
            }
            return (1 + deepest, size, 3 + count)
        }
    }

    static func numberSize(_ number: JSONNumber) -> Int {
        (number.digits.count + 1) / 2 + 1
    }

    // MARK: Size without validation

    /// `Item.size` of a valid map encoding, in one walk that allocates
    /// nothing: what a write needs to keep table statistics, without decoding
    /// the item it replaces.
    static func quickSize(_ bytes: Bytes) -> Int {
        var cursor = Cursor(bytes)
        guard let (size, overhead) = try? quickValueSize(&cursor) else { return bytes.count }
        return size - overhead
    }

    private static func quickValueSize(_ cursor: inout Cursor) throws(NoSQLError) -> (size: Int, overhead: Int) {
        guard let tag = Tag(rawValue: try cursor.byte()) else { throw unknownTag }
        switch tag {
        case .null, .boolFalse, .boolTrue:
            return (1, 0)
        case .number:
            return ((significantDigits(cursor.bytes[try cursor.field()]) + 1) / 2 + 1, 0)
        case .string, .binary:
            return (try cursor.field().count, 0)
        case .stringSet, .binarySet:
            var size = 0
            for _ in 0..<(try cursor.count()) { size += try cursor.field().count }
            return (size, 0)
        case .numberSet:
            var size = 0
            for _ in 0..<(try cursor.count()) { size += (significantDigits(cursor.bytes[try cursor.field()]) + 1) / 2 + 1 }
            return (size, 0)
        case .list:
            let count = try cursor.count()
            var size = 3
            for _ in 0..<count { size += 1 + (try quickValueSize(&cursor)).size }
            return (size, 3 + count)
        case .map:
            let count = try cursor.count()
            var size = 3
            for _ in 0..<count {
                let name = try cursor.field()
                size += 1 + name.count + (try quickValueSize(&cursor)).size
            }
            return (size, 3 + count)
        }
    }

    /// Significant digits of a number's canonical text (`-1.25e+30` has 3).
    private static func significantDigits(_ text: ArraySlice<UInt8>) -> Int {
        var digits = 0
        var trailingZeros = 0
        var seenNonZero = false
        for byte in text {
            if byte == UInt8(ascii: "e") { break }
            guard (0x30...0x39).contains(byte) else { continue }
            if byte == 0x30 && !seenNonZero { continue }
            seenNonZero = true
            digits += 1
            trailingZeros = byte == 0x30 ? trailingZeros + 1 : 0
        }
        return digits - trailingZeros
    }

    private static let emptySet = NoSQLError(.invalidItem, "a set is empty")
    private static let unsortedSet = NoSQLError(.invalidItem, "set elements are not in ascending order, or one repeats")

    private static func tooDeep(_ limit: Int) -> NoSQLError {
        NoSQLError(.invalidItem, "item nests maps and lists deeper than \(limit) levels")
    }

    // MARK: Decoding

    static func decode(_ bytes: Bytes) throws(NoSQLError) -> AttributeValue {
        var cursor = Cursor(bytes)
        let value = try decodeValue(&cursor)
        guard cursor.isAtEnd else { throw NoSQLError(.invalidItem, "trailing bytes after the item encoding") }
        return value
    }

    static func decodeValue(_ cursor: inout Cursor) throws(NoSQLError) -> AttributeValue {
        guard let tag = Tag(rawValue: try cursor.byte()) else { throw unknownTag }
        switch tag {
        case .null: return .null
        case .boolFalse: return .bool(false)
        case .boolTrue: return .bool(true)
        case .number: return .number(try cursor.number())
        case .string: return .string(try cursor.string())
        case .binary: return .binary(Array(cursor.bytes[try cursor.field()]))
        case .stringSet:
            var values: [String] = []
            for _ in 0..<(try cursor.count()) { values.append(try cursor.string()) }
            return .stringSet(values)
        case .numberSet:
            var values: [JSONNumber] = []
            for _ in 0..<(try cursor.count()) { values.append(try cursor.number()) }
            return .numberSet(values)
        case .binarySet:
            var values: [Bytes] = []
            for _ in 0..<(try cursor.count()) { values.append(Array(cursor.bytes[try cursor.field()])) }
            return .binarySet(values)
        case .list:
            var values: [AttributeValue] = []
            for _ in 0..<(try cursor.count()) { values.append(try decodeValue(&cursor)) }
            return .list(values)
        case .map:
            var members: [AttributeMap.Member] = []
            for _ in 0..<(try cursor.count()) {
                let name = try cursor.string()
                members.append(AttributeMap.Member(name: name, value: try decodeValue(&cursor)))
            }
            return .map(AttributeMap(sortedMembers: members))
        }
    }

    /// The value of top-level member `name` of a map encoding, or nil.
    static func topLevelValue(named name: String, in bytes: Bytes) throws(NoSQLError) -> AttributeValue? {
        var cursor = Cursor(bytes)
        guard try cursor.byte() == Tag.map.rawValue else { return nil }
        let wanted = Array(name.utf8)
        for _ in 0..<(try cursor.count()) {
            let range = try cursor.field()
            if bytes[range].elementsEqual(wanted) { return try decodeValue(&cursor) }
            // Names are sorted: past `wanted`, it is not there.
            if wanted.lexicographicallyPrecedes(bytes[range]) { return nil }
            try cursor.skipValue()
        }
        return nil
    }
}
