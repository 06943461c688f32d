/// What a table is: its name and the names of its key attributes. Fixed for
/// the table's life; the attribute types are not, so a table may hold both
/// string and number keys (numbers sort first, see `OrderedKeyEncoding`).
public struct TableSchema: Sendable, Hashable {
    public var name: String
    public var partitionKey: String
    public var sortKey: String?

    public init(name: String, partitionKey: String, sortKey: String? = nil) {
        self.name = name
        self.partitionKey = partitionKey
        self.sortKey = sortKey
    }

    /// Table names follow DynamoDB: 3 to 255 characters of `A-Z a-z 0-9 _ . -`.
    /// The narrow alphabet keeps names safe in URLs, paths and log lines.
    public static func validate(tableName name: String) throws(NoSQLError) {
        let bytes = Array(name.utf8)
        guard (3...255).contains(bytes.count) else {
            throw NoSQLError(.invalidArgument, "table name must be 3 to 255 characters long, got \(bytes.count)")
        }
        let allowed: (UInt8) -> Bool = { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"):
                true
            default: false
            }
        }
        guard bytes.allSatisfy(allowed) else {
            throw NoSQLError(.invalidArgument, "table name \"\(name)\" may contain only A-Z, a-z, 0-9, '_', '.' and '-'")
        }
    }

    /// Key attribute names: 1 to 255 UTF-8 bytes, partition and sort key distinct.
    public func validate() throws(NoSQLError) {
        try Self.validate(tableName: name)
        for (role, attribute) in [("partition", partitionKey), ("sort", sortKey)] {
            guard let attribute else { continue }
            guard (1...255).contains(attribute.utf8.count) else {
                throw NoSQLError(.invalidArgument, "\(role) key name must be 1 to 255 bytes long")
            }
        }
        if let sortKey, sortKey.utf8Equals(partitionKey) {
            throw NoSQLError(.invalidArgument, "partition key and sort key must be different attributes")
        }
    }

    /// The primary key of `item` (a whole item or an object holding just the
    /// key attributes), checked against the limits.
    public func key(of item: JSONValue, limits: NoSQLLimits = .default) throws(NoSQLError) -> ItemKey {
        guard case .object(let object) = item else {
            throw NoSQLError(.invalidItem, "an item must be a JSON object, not \(item.typeName)")
        }
        func value(_ attribute: String) throws(NoSQLError) -> KeyAttributeValue {
            guard let json = object[attribute] else {
                throw NoSQLError(.missingKeyAttribute, "item has no key attribute \"\(attribute)\" (table \(name))")
            }
            return try KeyAttributeValue(json, attribute: attribute)
        }
        var key = ItemKey(partition: try value(partitionKey))
        if let sortKey { key.sort = try value(sortKey) }
        try check(key, limits: limits)
        return key
    }

    /// Checks that `key` has exactly this table's components, within the size limits.
    public func check(_ key: ItemKey, limits: NoSQLLimits = .default) throws(NoSQLError) {
        switch (sortKey, key.sort) {
        case (let attribute?, nil):
            throw NoSQLError(.missingKeyAttribute, "table \(name) needs a value for its sort key \"\(attribute)\"")
        case (nil, _?):
            throw NoSQLError(.invalidArgument, "table \(name) has no sort key, but a sort key value was given")
        default: break
        }
        try Self.checkSizes(of: key, limits: limits)
    }

    /// Checks the key size limits, which need no schema.
    public static func checkSizes(of key: ItemKey, limits: NoSQLLimits = .default) throws(NoSQLError) {
        guard key.partition.byteSize <= limits.maxPartitionKeyBytes else {
            throw NoSQLError(
                .keyTooLarge,
                "partition key value is \(key.partition.byteSize) bytes; the limit is \(limits.maxPartitionKeyBytes)")
        }
        if let sort = key.sort, sort.byteSize > limits.maxSortKeyBytes {
            throw NoSQLError(.keyTooLarge, "sort key value is \(sort.byteSize) bytes; the limit is \(limits.maxSortKeyBytes)")
        }
    }
}

/// A table as stored: its schema and the log index of the command that created it.
public struct TableInfo: Sendable, Hashable {
    public var schema: TableSchema
    /// Log index of the create-table command.
    public var createdAt: UInt64

    public init(schema: TableSchema, createdAt: UInt64) {
        self.schema = schema
        self.createdAt = createdAt
    }

    public var name: String { schema.name }
}
