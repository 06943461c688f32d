/// Checks of a command's own content. They run twice: in the server before
/// proposing (so a bad request is answered at once and never fills the log)
/// and again when applying (so a bad entry, whoever wrote it, is a
/// deterministic error result instead of bad state).
extension NoSQLCommand {
    /// Everything checkable without the store: names, item shape, depth,
    /// size, key sizes, expected version rules.
    public func validate(limits: NoSQLLimits = .default) throws(NoSQLError) {
        switch self {
        case .createTable(let schema):
            try schema.validate()
        case .deleteTable(let name):
            try TableSchema.validate(tableName: name)
        case let .putItem(table, item, _):
            try TableSchema.validate(tableName: table)
            _ = try Self.checkedCanonicalItem(item, limits: limits)
        case let .deleteItem(table, key, expectedVersion), let .rollbackItem(table, key, expectedVersion):
            try TableSchema.validate(tableName: table)
            try TableSchema.checkSizes(of: key, limits: limits)
            if expectedVersion == 0 {
                throw NoSQLError(
                    .invalidArgument,
                    "expected version 0 means \"the item must not exist\" and applies only to put-item")
            }
        }
    }

    /// What needs the table's schema: the key attributes of a put's item, or
    /// the shape of a delete's or rollback's key. Returns the item key, or nil
    /// for table commands.
    public func validate(against schema: TableSchema, limits: NoSQLLimits = .default) throws(NoSQLError) -> ItemKey? {
        switch self {
        case .createTable, .deleteTable:
            return nil
        case .putItem(_, let item, _):
            return try schema.key(of: item, limits: limits)
        case .deleteItem(_, let key, _), .rollbackItem(_, let key, _):
            try schema.check(key, limits: limits)
            return key
        }
    }

    /// The canonical bytes of a valid item: an object, nested at most
    /// `maxNestingDepth` deep, at most `maxItemBytes` long.
    static func checkedCanonicalItem(_ item: JSONValue, limits: NoSQLLimits) throws(NoSQLError) -> [UInt8] {
        guard case .object = item else {
            throw NoSQLError(.invalidItem, "an item must be a JSON object, not \(item.typeName)")
        }
        guard item.nestingDepth <= limits.effectiveNestingDepth else {
            throw NoSQLError(.invalidItem, "item nests objects and arrays deeper than \(limits.effectiveNestingDepth) levels")
        }
        let bytes = item.canonicalBytes
        guard bytes.count <= limits.maxItemBytes else {
            throw NoSQLError(.itemTooLarge, "item is \(bytes.count) bytes as canonical JSON; the limit is \(limits.maxItemBytes)")
        }
        return bytes
    }
}
