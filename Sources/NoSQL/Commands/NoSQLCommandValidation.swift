/// Checks of a command's own content. They run twice: in the server before
/// proposing (so a bad request is answered at once and never fills the log)
/// and again when applying (so a bad entry, whoever wrote it, is a
/// deterministic error result instead of bad state).
extension NoSQLCommand {
    /// Most writes in one transaction (DynamoDB's limit).
    public static let maxTransactionWrites = 100

    /// Everything checkable without the store: names, item shape, depth,
    /// size, key sizes, expected version rules, transaction shape.
    /// Expressions are checked by `validateExpressions`.
    public func validate(limits: NoSQLLimits = .default) throws(NoSQLError) {
        switch self {
        case .createTable(let schema):
            try schema.validate()
        case .deleteTable(let name):
            try TableSchema.validate(tableName: name)
        case let .putItem(table, item, _):
            try TableSchema.validate(tableName: table)
            _ = try Self.checkedItemSize(item, limits: limits)
        case let .deleteItem(table, key, expectedVersion), let .rollbackItem(table, key, expectedVersion):
            try TableSchema.validate(tableName: table)
            try TableSchema.checkSizes(of: key, limits: limits)
            if expectedVersion == 0 {
                throw NoSQLError(
                    .invalidArgument,
                    "expected version 0 means \"the item must not exist\" and applies only to put-item")
            }
        case .transactWrite(let writes):
            guard (1...Self.maxTransactionWrites).contains(writes.count) else {
                throw NoSQLError(
                    .invalidArgument,
                    "a transaction has 1 to \(Self.maxTransactionWrites) writes, this one has \(writes.count)")
            }
            for write in writes {
                try TableSchema.validate(tableName: write.table)
                switch write.action {
                case .put(let item):
                    _ = try Self.checkedItemSize(item, limits: limits)
                case .update(let key, _), .delete(let key):
                    try TableSchema.checkSizes(of: key, limits: limits)
                case .conditionCheck(let key):
                    try TableSchema.checkSizes(of: key, limits: limits)
                    if write.condition == nil {
                        throw NoSQLError(.invalidArgument, "a condition check needs a condition expression")
                    }
                }
            }
        }
    }

    /// Parses every expression of a transaction with its placeholders, and
    /// checks that each write uses all the placeholders it defines.
    public func validateExpressions() throws(NoSQLError) {
        guard case .transactWrite(let writes) = self else { return }
        for write in writes {
            var usage = ExpressionUsage()
            _ = try write.parsed(usage: &usage)
            try usage.checkAllUsed(write.attributes)
        }
    }

    /// What needs the table's schema: the key attributes of a put's item, or
    /// the shape of a delete's or rollback's key. Returns the item key, or nil
    /// for table commands and transactions (whose writes are checked one by
    /// one with `ItemWrite.key(in:limits:)`).
    public func validate(against schema: TableSchema, limits: NoSQLLimits = .default) throws(NoSQLError) -> ItemKey? {
        switch self {
        case .createTable, .deleteTable, .transactWrite:
            return nil
        case .putItem(_, let item, _):
            return try schema.key(of: item, limits: limits)
        case .deleteItem(_, let key, _), .rollbackItem(_, let key, _):
            try schema.check(key, limits: limits)
            return key
        }
    }

    /// The size of a valid item: a map, nested at most `maxNestingDepth`
    /// deep, at most `maxItemBytes` by DynamoDB's size rule (`Item.size`).
    static func checkedItemSize(_ item: Item, limits: NoSQLLimits) throws(NoSQLError) -> Int {
        guard item.isMap else {
            throw NoSQLError(.invalidItem, "an item must be a map (a JSON object), not \(item.value.typeName.rawValue)")
        }
        let summary = try ItemCodec.validate(item.bytes, maxDepth: limits.effectiveNestingDepth)
        guard summary.itemSize <= limits.maxItemBytes else {
            throw NoSQLError(
                .itemTooLarge,
                "Item size has exceeded the maximum allowed size: the item is \(summary.itemSize) bytes, the limit is \(limits.maxItemBytes)")
        }
        return summary.itemSize
    }
}

extension ItemWrite {
    /// The condition and update expressions, parsed.
    public func parsed(usage: inout ExpressionUsage) throws(NoSQLError) -> (condition: Condition?, update: UpdateExpression?) {
        var condition: Condition?
        if let text = self.condition {
            condition = try ExpressionParser.condition(text, kind: .condition, attributes: attributes, usage: &usage)
        }
        var update: UpdateExpression?
        if case .update(_, let text) = action {
            // No expression: the update only makes sure the item exists (DynamoDB's UpdateItem without one).
            update = text.isEmpty ? UpdateExpression() : try ExpressionParser.update(text, attributes: attributes, usage: &usage)
        }
        return (condition, update)
    }

    /// The key of the item this write addresses, checked against the schema.
    public func key(in schema: TableSchema, limits: NoSQLLimits = .default) throws(NoSQLError) -> ItemKey {
        switch action {
        case .put(let item):
            return try schema.key(of: item, limits: limits)
        case .update(let key, _), .delete(let key), .conditionCheck(let key):
            try schema.check(key, limits: limits)
            return key
        }
    }
}
