/// What a table is: its name, the names of its key attributes and, for
/// tables created through the DynamoDB API, their declared types. Fixed for
/// the table's life.
///
/// A table created through the native API declares no types: each key may
/// be a string or a number, item by item (numbers sort first, see
/// `OrderedKeyEncoding`). A table with declared types (DynamoDB's
/// `AttributeDefinitions`) takes only values of those types, and, as in
/// DynamoDB, no empty string or binary key values.
public struct TableSchema: Sendable, Hashable {
    public var name: String
    public var partitionKey: String
    public var sortKey: String?
    /// The partition key's declared type; nil for an untyped (native) table.
    public var partitionKeyType: KeyAttributeType?
    /// The sort key's declared type; nil for an untyped table or no sort key.
    public var sortKeyType: KeyAttributeType?
    /// Billing settings as the creator gave them. Recorded and reported, not
    /// enforced: RaftLab has no capacity limits.
    public var billing: BillingSettings?
    /// When the create request arrived, in milliseconds since 1970 on the
    /// clock of the node that proposed it (so every node stores the same
    /// value); 0 when unknown.
    public var creationTime: UInt64

    public init(
        name: String, partitionKey: String, sortKey: String? = nil,
        partitionKeyType: KeyAttributeType? = nil, sortKeyType: KeyAttributeType? = nil,
        billing: BillingSettings? = nil, creationTime: UInt64 = 0
    ) {
        self.name = name
        self.partitionKey = partitionKey
        self.sortKey = sortKey
        self.partitionKeyType = partitionKeyType
        self.sortKeyType = sortKeyType
        self.billing = billing
        self.creationTime = creationTime
    }

    /// True when the key types are declared.
    public var isTyped: Bool { partitionKeyType != nil }

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

    /// Key attribute names: 1 to 255 UTF-8 bytes, partition and sort key
    /// distinct; types declared for every key attribute or for none.
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
        if isTyped ? (sortKey == nil) != (sortKeyType == nil) : sortKeyType != nil {
            throw NoSQLError(.invalidArgument, "a table declares the types of all its key attributes or of none")
        }
    }

    /// The primary key of `item` (a whole item or just its key attributes),
    /// checked against the schema and the limits.
    public func key(of item: Item, limits: NoSQLLimits = .default) throws(NoSQLError) -> ItemKey {
        guard item.isMap else {
            throw NoSQLError(.invalidItem, "an item must be a map (a JSON object), not \(item.value.typeName.rawValue)")
        }
        func value(_ attribute: String) throws(NoSQLError) -> KeyAttributeValue {
            guard let value = item[attribute] else {
                throw NoSQLError(.missingKeyAttribute, "item has no key attribute \"\(attribute)\" (table \(name))")
            }
            return try KeyAttributeValue(value, attribute: attribute)
        }
        var key = ItemKey(partition: try value(partitionKey))
        if let sortKey { key.sort = try value(sortKey) }
        try check(key, limits: limits)
        return key
    }

    /// The primary key of a native JSON item.
    public func key(of item: JSONValue, limits: NoSQLLimits = .default) throws(NoSQLError) -> ItemKey {
        try key(of: Item(json: item), limits: limits)
    }

    /// Checks that `key` has exactly this table's components, of its types,
    /// within the size limits.
    public func check(_ key: ItemKey, limits: NoSQLLimits = .default) throws(NoSQLError) {
        switch (sortKey, key.sort) {
        case (let attribute?, nil):
            throw NoSQLError(.missingKeyAttribute, "table \(name) needs a value for its sort key \"\(attribute)\"")
        case (nil, _?):
            throw NoSQLError(.invalidArgument, "table \(name) has no sort key, but a sort key value was given")
        default: break
        }
        try checkType(of: key.partition, attribute: partitionKey, declared: partitionKeyType)
        if let sort = key.sort, let sortKey { try checkType(of: sort, attribute: sortKey, declared: sortKeyType) }
        try Self.checkSizes(of: key, limits: limits)
    }

    /// A key value's type against the declared one (any but binary when none is declared).
    public func checkType(of value: KeyAttributeValue, attribute: String, declared: KeyAttributeType?) throws(NoSQLError) {
        guard let declared else {
            if case .binary = value {
                throw NoSQLError(
                    .invalidKeyType, "key attribute \"\(attribute)\" of table \(name) must be a string or a number, not binary")
            }
            return
        }
        guard value.type == declared else {
            throw NoSQLError(
                .invalidKeyType,
                "One or more parameter values were invalid: Type mismatch for key \(attribute) expected: \(declared.rawValue) actual: \(value.type.rawValue)")
        }
        if value.byteSize == 0 && declared != .number {
            throw NoSQLError(
                .invalidKeyType,
                "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty \(declared == .string ? "string" : "binary") value. Key: \(attribute)")
        }
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

    /// The key attributes of `item` as a map (DynamoDB's `LastEvaluatedKey`).
    public func keyAttributes(of key: ItemKey) -> AttributeMap {
        var map = AttributeMap()
        map[partitionKey] = key.partition.attributeValue
        if let sortKey, let sort = key.sort { map[sortKey] = sort.attributeValue }
        return map
    }

    /// True when `name` is one of the key attributes.
    public func isKeyAttribute(_ name: String) -> Bool {
        name.utf8Equals(partitionKey) || (sortKey.map { name.utf8Equals($0) } ?? false)
    }
}

/// DynamoDB's `BillingMode` and provisioned throughput, as given.
public struct BillingSettings: Sendable, Hashable {
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        case payPerRequest = "PAY_PER_REQUEST"
        case provisioned = "PROVISIONED"
    }

    public var mode: Mode
    public var readCapacityUnits: UInt64
    public var writeCapacityUnits: UInt64

    public init(mode: Mode, readCapacityUnits: UInt64 = 0, writeCapacityUnits: UInt64 = 0) {
        self.mode = mode
        self.readCapacityUnits = readCapacityUnits
        self.writeCapacityUnits = writeCapacityUnits
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

/// A table's item count and total item size, kept up to date by every write
/// (DynamoDB's `ItemCount` and `TableSizeBytes`, exact here).
public struct TableStatistics: Sendable, Hashable {
    public var itemCount: UInt64
    /// Sum of the items' sizes (`Item.size`), current versions only.
    public var sizeBytes: UInt64

    public init(itemCount: UInt64 = 0, sizeBytes: UInt64 = 0) {
        self.itemCount = itemCount
        self.sizeBytes = sizeBytes
    }
}
