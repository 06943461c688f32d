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

/// A condition on the sort key of a query (DynamoDB's key conditions).
public enum SortKeyCondition: Sendable, Hashable {
    /// `=`, `<`, `<=`, `>`, `>=` (never `<>`).
    case compare(Comparator, KeyAttributeValue)
    /// Inclusive at both ends; the low bound must not be above the high one.
    case between(KeyAttributeValue, KeyAttributeValue)
    /// A string or binary prefix.
    case beginsWith(KeyAttributeValue)
}

/// A read of many items in key order: a whole table (DynamoDB's Scan) or
/// one partition, optionally narrowed by a sort key condition (Query).
public struct ItemRangeRead: Sendable, Hashable {
    public enum Scope: Sendable, Hashable {
        case table
        case partition(KeyAttributeValue, SortKeyCondition?)
    }

    /// One of `count` disjoint parts of a table, by a hash of the partition
    /// key (DynamoDB's parallel Scan).
    public struct Segment: Sendable, Hashable {
        public var index: Int
        public var count: Int

        public init(index: Int, count: Int) {
            self.index = index
            self.count = count
        }
    }

    public var table: String
    public var scope: Scope
    /// Ascending key order, or descending (`ScanIndexForward: false`).
    public var forward: Bool
    /// Start after this item (the previous page's last evaluated key).
    public var exclusiveStartKey: ItemKey?
    /// Most items to return; nil for no limit but `maxBytes`.
    public var limit: Int?
    /// A page stops once the items read reach this many bytes (DynamoDB's
    /// 1 MB), the item that reaches it included.
    public var maxBytes: Int
    public var segment: Segment?

    public init(
        table: String, scope: Scope, forward: Bool = true, exclusiveStartKey: ItemKey? = nil, limit: Int? = nil,
        maxBytes: Int = 1 << 20, segment: Segment? = nil
    ) {
        self.table = table
        self.scope = scope
        self.forward = forward
        self.exclusiveStartKey = exclusiveStartKey
        self.limit = limit
        self.maxBytes = maxBytes
        self.segment = segment
    }
}

/// One page of an `ItemRangeRead`.
public struct ItemPage: Sendable, Hashable {
    public var items: [StoredItem]
    /// Where to resume when more may follow (the last item returned, or for
    /// a segment, possibly the last item of another segment read); nil on the
    /// last page.
    public var lastEvaluatedKey: ItemKey?

    public init(items: [StoredItem], lastEvaluatedKey: ItemKey?) {
        self.items = items
        self.lastEvaluatedKey = lastEvaluatedKey
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

    /// The table's item count and total item size, as of this node's state.
    public func tableStatistics(_ name: String, in store: any StateStore) throws -> TableStatistics {
        _ = try describeTable(name, in: store)
        return try loadStatistics(name, from: store)
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
        guard let item = try findItem(table: tableName, key: key, in: store) else { throw itemNotFound(key, tableName) }
        return item
    }

    /// The item, or nil when there is none (the table must exist).
    public func findItem(table tableName: String, key: ItemKey, in store: any StateStore) throws -> StoredItem? {
        try TableSchema.validate(tableName: tableName)
        let reader = StoreReader(store: store)
        let table = try requireTable(tableName, from: reader)
        try table.schema.check(key, limits: limits)
        return try loadItem(StorageLayout.itemKey(table: tableName, key: key), from: reader)
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

    /// A page of a Scan or Query. Forward pages read the range in order and
    /// stop at `limit` items or `maxBytes`; they peek one item further, so
    /// the last page carries no key. Backward pages read the range forward
    /// too (stores scan one way), keeping only a window of the last items:
    /// memory stays bounded by the page, time grows with the part of the
    /// range before the page.
    public func readItems(_ read: ItemRangeRead, in store: any StateStore) throws -> ItemPage {
        try TableSchema.validate(tableName: read.table)
        let table = try requireTable(read.table, from: StoreReader(store: store))
        let schema = table.schema
        if let limit = read.limit, limit < 1 {
            throw NoSQLError(.invalidArgument, "limit must be at least 1, got \(limit)")
        }
        if let segment = read.segment, !(segment.count >= 1 && (0..<segment.count).contains(segment.index)) {
            throw NoSQLError(.invalidArgument, "segment \(segment.index) of \(segment.count) does not exist")
        }
        let range: KeyRange
        switch read.scope {
        case .table:
            range = .prefix(StorageLayout.tableItemsPrefix(read.table))
        case let .partition(partition, condition):
            try schema.checkType(of: partition, attribute: schema.partitionKey, declared: schema.partitionKeyType)
            try TableSchema.checkSizes(of: ItemKey(partition: partition), limits: limits)
            range = StorageLayout.queryRange(table: read.table, partition: partition, sortKey: condition)
        }
        var scanRange = range
        if let start = read.exclusiveStartKey {
            try schema.check(start, limits: limits)
            let startKey = StorageLayout.itemKey(table: read.table, key: start)
            if read.forward {
                let after = startKey + [0x00]
                if scanRange.lower.sortsBefore(after) { scanRange.lower = after }
            } else if scanRange.upper.map({ startKey.sortsBefore($0) }) ?? true {
                scanRange.upper = startKey
            }
        }
        let limit = read.limit ?? Int.max
        func inSegment(_ item: StoredItem) throws -> Bool {
            guard let segment = read.segment else { return true }
            let key = try schema.key(of: item.content, limits: Self.unlimitedKeys)
            var encoded: Bytes = []
            OrderedKeyEncoding.append(key.partition, to: &encoded)
            return Self.segment(of: encoded, count: segment.count) == segment.index
        }
        func decode(_ pair: KeyValue) throws -> StoredItem {
            try RecordCoding.decodeItem(pair.value, key: pair.key)
        }
        let chunkSize = 256

        if read.forward {
            // Every item read counts against the byte budget, those of other
            // segments too, so a page of a sparse segment stops at `maxBytes`
            // of reading, possibly empty, and resumes after the last item read.
            var items: [StoredItem] = []
            var bytesRead = 0
            var lastRead: StoredItem?
            var lower = scanRange.lower
            var more = false
            scanning: while true {
                guard scanRange.upper.map({ lower.sortsBefore($0) }) ?? true else { break }
                let chunk = try store.scan(KeyRange(from: lower, to: scanRange.upper), limit: chunkSize)
                for pair in chunk {
                    if items.count >= limit || bytesRead >= read.maxBytes {
                        more = true
                        break scanning
                    }
                    let item = try decode(pair)
                    bytesRead += pair.value.count
                    lastRead = item
                    if try inSegment(item) { items.append(item) }
                }
                guard chunk.count == chunkSize, let last = chunk.last else { break }
                lower = last.key + [0x00]
            }
            let lastKey = more ? try lastRead.map { try schema.key(of: $0.content, limits: Self.unlimitedKeys) } : nil
            return ItemPage(items: items, lastEvaluatedKey: lastKey)
        }

        // Backward: a window of the last items, trimmed from the front as
        // soon as the page (counted from the back) no longer needs them.
        var window: [(item: StoredItem, size: Int)] = []
        var head = 0
        var windowBytes = 0
        var dropped = false
        var lower = scanRange.lower
        while scanRange.upper.map({ lower.sortsBefore($0) }) ?? true {
            let chunk = try store.scan(KeyRange(from: lower, to: scanRange.upper), limit: chunkSize)
            for pair in chunk {
                let item = try decode(pair)
                guard try inSegment(item) else { continue }
                window.append((item, pair.value.count))
                windowBytes += pair.value.count
                while window.count - head - 1 > limit
                    || (window.count - head >= 3 && windowBytes - window[head].size - window[head + 1].size >= read.maxBytes)
                {
                    windowBytes -= window[head].size
                    head += 1
                    dropped = true
                }
                if head > 4096 {
                    window.removeFirst(head)
                    head = 0
                }
            }
            guard chunk.count == chunkSize, let last = chunk.last else { break }
            lower = last.key + [0x00]
        }
        var items: [StoredItem] = []
        var bytes = 0
        var index = window.count - 1
        while index >= head, items.count < limit, bytes < read.maxBytes {
            items.append(window[index].item)
            bytes += window[index].size
            index -= 1
        }
        let more = dropped || index >= head
        let lastKey = more ? try items.last.map { try schema.key(of: $0.content, limits: Self.unlimitedKeys) } : nil
        return ItemPage(items: items, lastEvaluatedKey: lastKey)
    }

    /// Stored keys were checked when written; reading them back must not
    /// depend on today's limits.
    static let unlimitedKeys = NoSQLLimits(maxPartitionKeyBytes: .max, maxSortKeyBytes: .max)

    /// The segment of `count` a partition key falls in: 64-bit FNV-1a of its
    /// encoding, mixed by MurmurHash3's finalizer (FNV alone spreads badly
    /// over small moduli: every number key landed in one of 3 segments), then
    /// mapped onto 0..<count by its high bits. A fixed function, the same on
    /// every node and run (Swift's `Hasher` is seeded per process).
    static func segment(of partition: Bytes, count: Int) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in partition {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        hash = hash &* 0xc4ce_b9fe_1a85_ec53
        hash ^= hash >> 33
        return Int(hash.multipliedFullWidth(by: UInt64(count)).high)
    }
}
