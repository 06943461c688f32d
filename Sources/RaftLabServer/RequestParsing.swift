import Hummingbird
import NoSQL
import RaftLabAPI
import RaftLabNode

/// The query string of a request, decoded and checked.
///
/// Values are percent-decoded as in `application/x-www-form-urlencoded`:
/// `%XX` is a byte and `+` is a space (so a literal `+` must be sent as
/// `%2B`). A malformed escape, bytes that are not UTF-8, a repeated
/// parameter or one the endpoint does not know are `invalid_argument`, so a
/// typo such as `sortkey=` is an error rather than silently ignored.
struct QueryParameters: Sendable {
    private(set) var values: [String: String] = [:]

    init(_ query: String?, allowed: Set<String>) throws(APIError) {
        guard let query, !query.isEmpty else { return }
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = try Self.decode(parts[0], what: "a query parameter name")
            let value = parts.count > 1 ? try Self.decode(parts[1], what: "the value of \(name)") : ""
            guard allowed.contains(name) else {
                let known = allowed.sorted().joined(separator: ", ")
                throw .invalidArgument(
                    "unknown query parameter \"\(name)\"; this endpoint takes \(known.isEmpty ? "none" : known)")
            }
            guard values[name] == nil else { throw .invalidArgument("query parameter \(name) is given more than once") }
            values[name] = value
        }
    }

    subscript(name: String) -> String? { values[name] }

    func required(_ name: String) throws(APIError) -> String {
        guard let value = values[name] else { throw .invalidArgument("missing query parameter \(name)") }
        return value
    }

    /// A non-negative decimal integer, e.g. `expected_version`.
    func unsigned(_ name: String) throws(APIError) -> UInt64? {
        guard let text = values[name] else { return nil }
        guard let value = UInt64(text), text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw .invalidArgument("\(name) must be a non-negative integer, got \"\(text)\"")
        }
        return value
    }

    func int(_ name: String) throws(APIError) -> Int? {
        guard let text = values[name] else { return nil }
        guard let value = Int(text) else { throw .invalidArgument("\(name) must be an integer, got \"\(text)\"") }
        return value
    }

    /// `consistency=local|strong`, local by default.
    func consistency() throws(APIError) -> ReadConsistency {
        guard let text = values["consistency"] else { return .local }
        guard let value = ReadConsistency(rawValue: text) else {
            throw .invalidArgument("consistency must be local or strong, got \"\(text)\"")
        }
        return value
    }

    /// The key value in `name`, typed by `<name>_type` (`string`, the
    /// default, or `number`, the value then being a JSON number such as `1981` or `-2.5`).
    func keyValue(_ name: String) throws(APIError) -> KeyAttributeValue? {
        guard let text = values[name] else { return nil }
        switch values[name + "_type"] ?? "string" {
        case "string":
            return .string(text)
        case "number":
            guard let number = JSONNumber(text) else {
                throw .invalidArgument("\(name) is typed number but \"\(text)\" is not a JSON number")
            }
            return .number(number)
        case let other:
            throw .invalidArgument("\(name)_type must be string or number, got \"\(other)\"")
        }
    }

    /// The item key addressed by `partition_key` and `sort_key` (with their types).
    func itemKey() throws(APIError) -> ItemKey {
        guard let partition = try keyValue("partition_key") else {
            throw .invalidArgument("missing query parameter partition_key")
        }
        return ItemKey(partition: partition, sort: try keyValue("sort_key"))
    }

    /// Percent-decodes one component; `+` is a space.
    static func decode(_ text: Substring, what: String) throws(APIError) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    throw .invalidArgument("malformed percent-encoding in \(what)")
                }
                bytes.append(high << 4 | low)
            default:
                bytes.append(byte)
            }
        }
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw .invalidArgument("\(what) is not valid UTF-8 once percent-decoded")
        }
        return string
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Names of the query parameters each endpoint takes.
enum QueryNames {
    static let consistency: Set<String> = ["consistency"]
    static let key: Set<String> = ["partition_key", "partition_key_type", "sort_key", "sort_key_type"]
    static let getItem = key.union(consistency)
    static let writeItem = key.union(["expected_version"])
    static let putItem: Set<String> = ["expected_version"]
    static let query: Set<String> = [
        "partition_key", "partition_key_type", "sort_key_prefix", "limit", "continuation_token", "consistency",
    ]
}

/// The body of `POST /tables`: `{"table_name", "partition_key_name", "sort_key_name"?}`.
func parseCreateTable(_ bytes: [UInt8]) throws -> TableSchema {
    let json = try JSONValue.parse(bytes)
    guard case .object(let object) = json else {
        throw APIError.invalidArgument("the body of create-table must be a JSON object, not \(json.typeName)")
    }
    let known: Set<String> = ["table_name", "partition_key_name", "sort_key_name"]
    if let unknown = object.keys.first(where: { !known.contains($0) }) {
        throw APIError.invalidArgument(
            "unknown member \"\(unknown)\" in create-table; expected table_name, partition_key_name and optionally sort_key_name")
    }
    func string(_ name: String, required: Bool) throws(APIError) -> String? {
        switch object[name] {
        case .string(let value)?: return value
        case nil, .null?:
            if required { throw .invalidArgument("create-table needs a string \(name)") }
            return nil
        case let other?: throw .invalidArgument("\(name) must be a string, not \(other.typeName)")
        }
    }
    let tableName = try string("table_name", required: true) ?? ""
    let partitionKey = try string("partition_key_name", required: true) ?? ""
    let sortKey = try string("sort_key_name", required: false)
    return TableSchema(name: tableName, partitionKey: partitionKey, sortKey: sortKey.flatMap { $0.isEmpty ? nil : $0 })
}
