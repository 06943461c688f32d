/// A JSON object: members kept sorted by the UTF-8 bytes of their keys, each
/// key once.
///
/// Sorted storage makes the canonical serialization a straight walk and makes
/// two objects with the same members equal whatever order they were written in.
public struct JSONObject: Sendable, Hashable {
    public struct Member: Sendable, Hashable {
        public let key: String
        public let value: JSONValue

        public init(key: String, value: JSONValue) {
            self.key = key
            self.value = value
        }

        public static func == (a: Member, b: Member) -> Bool {
            a.key.utf8Equals(b.key) && a.value == b.value
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(utf8Bytes: key)
            hasher.combine(value)
        }
    }

    /// Sorted by key bytes, keys unique.
    public let members: [Member]

    public init() { members = [] }

    /// Builds an object from members in any order. Two members whose keys
    /// have the same bytes are refused: RFC 8259 leaves duplicates undefined,
    /// and parsers disagree on which one wins, so RaftLab accepts neither.
    public init(_ pairs: some Sequence<(String, JSONValue)>) throws(NoSQLError) {
        let sorted = pairs.map { Member(key: $0.0, value: $0.1) }.sorted { $0.key.utf8Precedes($1.key) }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.key.utf8Equals(b.key) {
            throw NoSQLError(.invalidJSON, "duplicate object key \"\(a.key)\"")
        }
        members = sorted
    }

    /// Builds an object from a dictionary (documents built in code, such as reports).
    public init(_ dictionary: [String: JSONValue]) {
        self.init(lastValueWins: dictionary.map { ($0.key, $0.value) })
    }

    /// Builds an object where a repeated key keeps its last value (literals in code).
    init(lastValueWins pairs: some Sequence<(String, JSONValue)>) {
        var kept: [Member] = []
        for (key, value) in pairs {
            kept.removeAll { $0.key.utf8Equals(key) }
            kept.append(Member(key: key, value: value))
        }
        // The sort is stable and keys are now unique, so this is the final order.
        members = kept.sorted { $0.key.utf8Precedes($1.key) }
    }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }
    public var keys: [String] { members.map(\.key) }

    /// The value of `key` (compared by bytes), by binary search.
    public subscript(key: String) -> JSONValue? {
        var low = 0
        var high = members.count
        while low < high {
            let mid = (low + high) / 2
            let candidate = members[mid].key
            if candidate.utf8Precedes(key) {
                low = mid + 1
            } else {
                high = mid
            }
        }
        guard low < members.count, members[low].key.utf8Equals(key) else { return nil }
        return members[low].value
    }
}
