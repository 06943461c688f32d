import StorageCore

/// A query: one partition's items, optionally only those whose string sort
/// key starts with a prefix, in sort key order, one page at a time.
public struct ItemQuery: Sendable, Hashable {
    public var table: String
    public var partitionKey: KeyAttributeValue
    /// Keeps only items whose sort key is a string starting with these UTF-8
    /// bytes (number sort keys never match a prefix). Nil or empty: the
    /// whole partition. Only for tables with a sort key.
    public var sortKeyPrefix: String?
    /// Page size, 1...`NoSQLLimits.maxQueryLimit`.
    public var limit: Int
    /// The token of the previous page, nil for the first page.
    public var continuationToken: String?

    public init(
        table: String, partitionKey: KeyAttributeValue, sortKeyPrefix: String? = nil, limit: Int = 100,
        continuationToken: String? = nil
    ) {
        self.table = table
        self.partitionKey = partitionKey
        self.sortKeyPrefix = sortKeyPrefix
        self.limit = limit
        self.continuationToken = continuationToken
    }
}

/// One page of a query.
public struct QueryPage: Sendable, Hashable {
    public var items: [StoredItem]
    /// Pass back in `ItemQuery.continuationToken` for the next page; nil on the last page.
    public var continuationToken: String?

    public init(items: [StoredItem], continuationToken: String?) {
        self.items = items
        self.continuationToken = continuationToken
    }
}

/// Reads go straight to a node's `StateStore`, not through the log: they see
/// what this node has applied (eventually consistent on followers, as in the
/// original simulator). They throw `NoSQLError` for bad requests and
/// `StorageError` when the store fails.
extension NoSQLStateMachine {
    public func describeTable(_ name: String, in store: any StateStore) throws -> TableInfo {
        try TableSchema.validate(tableName: name)
        return try requireTable(name, from: StoreReader(store: store))
    }

    /// Every table, in name byte order.
    public func listTables(in store: any StateStore) throws -> [TableInfo] {
        try store.scan(StorageLayout.allTables).map { pair in
            guard let name = StorageLayout.tableName(fromKey: pair.key) else {
                throw StorageError.corrupted(path: "nosql table \(RecordCoding.hex(pair.key))", reason: "table name is not UTF-8")
            }
            return try RecordCoding.decodeTable(name: name, pair.value)
        }
    }

    public func getItem(table tableName: String, key: ItemKey, in store: any StateStore) throws -> StoredItem {
        try TableSchema.validate(tableName: tableName)
        let reader = StoreReader(store: store)
        let table = try requireTable(tableName, from: reader)
        try table.schema.check(key, limits: limits)
        guard let item = try loadItem(StorageLayout.itemKey(table: tableName, key: key), from: reader) else {
            throw itemNotFound(key, tableName)
        }
        return item
    }

    public func query(_ query: ItemQuery, in store: any StateStore) throws -> QueryPage {
        try TableSchema.validate(tableName: query.table)
        guard (1...limits.maxQueryLimit).contains(query.limit) else {
            throw NoSQLError(.invalidArgument, "query limit must be between 1 and \(limits.maxQueryLimit), got \(query.limit)")
        }
        try TableSchema.checkSizes(of: ItemKey(partition: query.partitionKey), limits: limits)
        let table = try requireTable(query.table, from: StoreReader(store: store))
        let prefix = query.sortKeyPrefix.flatMap { $0.isEmpty ? nil : $0 }
        if prefix != nil && table.schema.sortKey == nil {
            throw NoSQLError(.invalidArgument, "table \(query.table) has no sort key, so a sort key prefix cannot apply")
        }
        let range = StorageLayout.queryRange(table: query.table, partition: query.partitionKey, sortKeyPrefix: prefix)
        var scanRange = range
        if let token = query.continuationToken {
            scanRange.lower = try ContinuationToken.decode(token, in: range) + [0x00]
        }
        // One extra pair tells whether another page exists, so the last page carries no token.
        let pairs = try store.scan(scanRange, limit: query.limit + 1)
        let page = pairs.prefix(query.limit)
        let items = try page.map { try RecordCoding.decodeItem($0.value, key: $0.key) }
        let token = pairs.count > query.limit ? page.last.map { ContinuationToken.encode(lastKey: $0.key) } : nil
        return QueryPage(items: items, continuationToken: token)
    }
}
