import NoSQL
import StorageCore

/// DynamoDB's JSON for attribute values (`{"S": "x"}`, `{"N": "1.5"}`,
/// `{"B": "<base64>"}`, `{"M": {...}}`, ...) and the typed reading of
/// request members.
///
/// A member of the wrong JSON type is a `SerializationException` (the body
/// does not fit the protocol); a value that fits the protocol but breaks a
/// rule (an empty set, a number of 39 digits, 33 levels of nesting) is a
/// `ValidationException`, as DynamoDB answers.
enum WireFormat {
    /// Deepest nesting of maps and lists in one value (DynamoDB's limit).
    static let maxNesting = 32

    // MARK: Decoding values

    static func attributeValue(_ json: JSONValue, depth: Int = 1) throws(DynamoDBError) -> AttributeValue {
        guard case .object(let object) = json else {
            throw .serialization("An AttributeValue must be a JSON object, not \(json.typeName)")
        }
        let known = object.members.filter { AttributeValue.TypeName(rawValue: $0.key) != nil }
        guard known.count == 1, let member = known.first else {
            throw .validation(
                known.isEmpty
                    ? "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
                    : "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
        }
        let value = member.value
        switch AttributeValue.TypeName(rawValue: member.key)! {
        case .string:
            return .string(try string(value, "S"))
        case .number:
            return .number(try number(try string(value, "N")))
        case .binary:
            return .binary(try binary(value, "B"))
        case .bool:
            guard case .bool(let flag) = value else { throw .serialization("BOOL must be true or false") }
            return .bool(flag)
        case .null:
            guard case .bool(let flag) = value else { throw .serialization("NULL must be true") }
            guard flag else { throw .validation("One or more parameter values were invalid: Null attribute value types must have the value of true") }
            return .null
        case .stringSet:
            let elements = try array(value, "SS").map { (element: JSONValue) throws(DynamoDBError) in try string(element, "SS") }
            try checkSet(elements.count, "string")
            guard let set = AttributeValue.set(strings: elements) else { throw duplicates(elements) }
            return set
        case .numberSet:
            let texts = try array(value, "NS").map { (element: JSONValue) throws(DynamoDBError) in try string(element, "NS") }
            try checkSet(texts.count, "number")
            var numbers: [JSONNumber] = []
            for text in texts { numbers.append(try number(text)) }
            guard let set = AttributeValue.set(numbers: numbers) else { throw duplicates(texts) }
            return set
        case .binarySet:
            let elements = try array(value, "BS").map { (element: JSONValue) throws(DynamoDBError) in try binary(element, "BS") }
            try checkSet(elements.count, "binary")
            guard let set = AttributeValue.set(binaries: elements) else { throw duplicates(elements.map { Base64.encode($0) }) }
            return set
        case .list:
            guard depth <= maxNesting else { throw .validation("Nesting Levels have exceeded supported limits") }
            var values: [AttributeValue] = []
            for element in try array(value, "L") { values.append(try attributeValue(element, depth: depth + 1)) }
            return .list(values)
        case .map:
            guard depth <= maxNesting else { throw .validation("Nesting Levels have exceeded supported limits") }
            return .map(try attributeMap(value, what: "M", depth: depth + 1))
        }
    }

    /// A JSON object of attribute values (an item, a key, a map value).
    static func attributeMap(_ json: JSONValue, what: String, depth: Int = 1) throws(DynamoDBError) -> AttributeMap {
        guard case .object(let object) = json else { throw .serialization("\(what) must be a JSON object of attribute values") }
        var map = AttributeMap()
        for member in object.members {
            map[member.key] = try attributeValue(member.value, depth: depth)
        }
        return map
    }

    private static func string(_ json: JSONValue, _ type: String) throws(DynamoDBError) -> String {
        guard case .string(let text) = json else {
            throw .serialization("NUMBER_VALUE cannot be converted to String: the \(type) value must be a JSON string")
        }
        return text
    }

    private static func array(_ json: JSONValue, _ type: String) throws(DynamoDBError) -> [JSONValue] {
        guard case .array(let elements) = json else { throw .serialization("\(type) must be a JSON array") }
        return elements
    }

    static func number(_ text: String) throws(DynamoDBError) -> JSONNumber {
        guard let number = JSONNumber(decimalText: text) else {
            throw .validation("The parameter cannot be converted to a numeric value: \(text)")
        }
        if let exceeded = number.dynamoDBLimitExceeded { throw .validation(exceeded.message) }
        return number
    }

    private static func binary(_ json: JSONValue, _ type: String) throws(DynamoDBError) -> Bytes {
        guard case .string(let text) = json, let bytes = Base64.decode(text) else {
            throw .serialization("Base64 encoded length is expected to be a multiple of 4 bytes of valid base64 in \(type)")
        }
        return bytes
    }

    private static func checkSet(_ count: Int, _ kind: String) throws(DynamoDBError) {
        if count == 0 { throw .validation("One or more parameter values were invalid: An \(kind) set  may not be empty") }
    }

    private static func duplicates(_ elements: [String]) -> DynamoDBError {
        .validation("One or more parameter values were invalid: Input collection [\(elements.joined(separator: ", "))] contains duplicates.")
    }

    // MARK: Encoding values

    static func json(_ value: AttributeValue) -> JSONValue {
        func member(_ type: String, _ content: JSONValue) -> JSONValue {
            .object((try? JSONObject([(type, content)])) ?? JSONObject())
        }
        switch value {
        case .string(let string): return member("S", .string(string))
        case .number(let number): return member("N", .string(numberText(number)))
        case .binary(let bytes): return member("B", .string(Base64.encode(bytes)))
        case .stringSet(let values): return member("SS", .array(values.map { .string($0) }))
        case .numberSet(let values): return member("NS", .array(values.map { .string(numberText($0)) }))
        case .binarySet(let values): return member("BS", .array(values.map { .string(Base64.encode($0)) }))
        case .list(let values): return member("L", .array(values.map(json)))
        case .map(let map): return member("M", json(map))
        case .null: return member("NULL", .bool(true))
        case .bool(let flag): return member("BOOL", .bool(flag))
        }
    }

    static func json(_ map: AttributeMap) -> JSONValue {
        .object((try? JSONObject(map.members.map { ($0.name, json($0.value)) })) ?? JSONObject())
    }

    static func json(_ item: Item) -> JSONValue {
        json(item.attributes)
    }

    /// DynamoDB writes numbers in plain notation. A number written through
    /// the native API can lie far outside DynamoDB's range (1e900000000);
    /// such a number keeps its exponent form rather than becoming a
    /// gigabyte of zeros.
    static func numberText(_ number: JSONNumber) -> String {
        number.dynamoDBLimitExceeded == nil ? number.plainText : number.description
    }

    static func reason(_ reason: CancellationReason) -> JSONValue {
        var members: [(String, JSONValue)] = [("Code", .string(reason.code.rawValue))]
        if let message = reason.message { members.append(("Message", .string(message))) }
        if let item = reason.item { members.append(("Item", json(item))) }
        return .object((try? JSONObject(members)) ?? JSONObject())
    }
}

/// Typed access to the members of a request object.
struct RequestObject {
    let object: JSONObject
    /// Where this object sits in the request, for messages (`TransactItems.1.Put`).
    let path: String

    init(_ json: JSONValue, path: String = "") throws(DynamoDBError) {
        guard case .object(let object) = json else {
            throw .serialization("\(path.isEmpty ? "The request body" : path) must be a JSON object")
        }
        self.object = object
        self.path = path
    }

    private func name(_ member: String) -> String { path.isEmpty ? member : "\(path).\(member)" }

    func has(_ member: String) -> Bool {
        if case nil = object[member] { return false }
        if case .null? = object[member] { return false }
        return true
    }

    func string(_ member: String) throws(DynamoDBError) -> String? {
        switch object[member] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw .serialization("\(name(member)) must be a string")
        }
    }

    func requiredString(_ member: String) throws(DynamoDBError) -> String {
        guard let text = try string(member) else {
            throw .validation("1 validation error detected: Value null at '\(name(member))' failed to satisfy constraint: Member must not be null")
        }
        return text
    }

    func bool(_ member: String) throws(DynamoDBError) -> Bool? {
        switch object[member] {
        case nil, .null?: return nil
        case .bool(let flag)?: return flag
        default: throw .serialization("\(name(member)) must be true or false")
        }
    }

    func int(_ member: String) throws(DynamoDBError) -> Int? {
        switch object[member] {
        case nil, .null?: return nil
        case .number(let number)?:
            guard let value = number.int64Value, let int = Int(exactly: value) else {
                throw .serialization("\(name(member)) must be an integer")
            }
            return int
        default: throw .serialization("\(name(member)) must be a number")
        }
    }

    func object(_ member: String) throws(DynamoDBError) -> RequestObject? {
        switch object[member] {
        case nil, .null?: return nil
        case let value?: return try RequestObject(value, path: name(member))
        }
    }

    func array(_ member: String) throws(DynamoDBError) -> [JSONValue]? {
        switch object[member] {
        case nil, .null?: return nil
        case .array(let elements)?: return elements
        default: throw .serialization("\(name(member)) must be a list")
        }
    }

    func attributeMap(_ member: String) throws(DynamoDBError) -> AttributeMap? {
        switch object[member] {
        case nil, .null?: return nil
        case let value?: return try WireFormat.attributeMap(value, what: name(member))
        }
    }

    /// `ExpressionAttributeNames` and `ExpressionAttributeValues`. Placeholders
    /// must look like `#name` and `:value` (letters, digits, underscores).
    func expressionAttributes() throws(DynamoDBError) -> ExpressionAttributes {
        var attributes = ExpressionAttributes()
        if let names = try object("ExpressionAttributeNames") {
            for member in names.object.members {
                guard Self.isPlaceholder(member.key, sigil: "#") else {
                    throw .validation("ExpressionAttributeNames contains invalid key: Syntax error; key: \"\(member.key)\"")
                }
                guard case .string(let name) = member.value else {
                    throw .serialization("ExpressionAttributeNames values must be strings")
                }
                guard !name.isEmpty else {
                    throw .validation("ExpressionAttributeNames contains invalid value: Empty attribute name for key \(member.key)")
                }
                attributes.names[member.key] = name
            }
        }
        if let values = try object("ExpressionAttributeValues") {
            for member in values.object.members {
                guard Self.isPlaceholder(member.key, sigil: ":") else {
                    throw .validation("ExpressionAttributeValues contains invalid key: Syntax error; key: \"\(member.key)\"")
                }
                attributes.values[member.key] = try WireFormat.attributeValue(member.value)
            }
        }
        return attributes
    }

    static func isPlaceholder(_ text: String, sigil: Character) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count >= 2, bytes[0] == sigil.asciiValue else { return false }
        return bytes.dropFirst().allSatisfy {
            (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x5F
        }
    }

    /// Refuses the legacy parameters RaftLab does not implement, naming the
    /// expression that replaces each.
    func refuseLegacy(_ members: [(String, String)]) throws(DynamoDBError) {
        for (member, replacement) in members where has(member) {
            throw .validation("RaftLab does not support the legacy parameter \(member); use \(replacement) instead")
        }
    }
}
