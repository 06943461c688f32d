import StorageCore

/// What each command does to the state.
///
/// Every command first reads and checks, and only then writes: a
/// `NoSQLError` is never thrown after a write to `pending`, so a failed
/// command leaves the batch exactly as it found it (only the index stamp
/// remains, by design).
///
/// Items travel as raw bytes: a put stores the command's item bytes and
/// copies the previous version's bytes from the old record, decoding
/// neither. Only conditions and update expressions decode an item.
extension NoSQLStateMachine {
    func execute(_ command: NoSQLCommand, at index: UInt64, _ pending: inout PendingWrites) throws -> CommandOutcome {
        try command.validate(limits: limits)
        switch command {
        case .createTable(let schema):
            guard try loadTable(schema.name, from: pending) == nil else { throw tableExists(schema.name) }
            let table = TableInfo(schema: schema, createdAt: index)
            pending.put(StorageLayout.tableKey(schema.name), RecordCoding.encode(table))
            pending.put(StorageLayout.statisticsKey(schema.name), RecordCoding.encode(TableStatistics()))
            return .tableCreated(table)

        case .deleteTable(let name):
            let table = try requireTable(name, from: pending)
            let itemKeys = try pending.keys(in: .prefix(StorageLayout.tableItemsPrefix(name)))
            for key in itemKeys { pending.delete(key) }
            pending.delete(StorageLayout.tableKey(name))
            pending.delete(StorageLayout.statisticsKey(name))
            return .tableDeleted(table, itemsDeleted: itemKeys.count)

        case let .putItem(tableName, item, expectedVersion):
            let table = try requireTable(tableName, from: pending)
            let key = try schemaKey(command, table)
            let storeKey = StorageLayout.itemKey(table: tableName, key: key)
            let existing = try loadCurrentVersion(storeKey, from: pending)
            try checkExpected(expectedVersion, existing: existing?.version, key: key)
            try checkNotStale(existing, key: key, index: index)
            pending.put(storeKey, RecordCoding.itemRecord(version: index, content: item.bytes, previous: existing))
            try adjustStatistics(
                tableName, &pending, items: existing == nil ? 1 : 0,
                bytes: item.size - (existing.map { ItemCodec.quickSize($0.content) } ?? 0))
            return .itemPut(
                table: tableName,
                StoredItem(current: ItemVersion(version: index, content: item), previous: existing.map(Self.version)))

        case let .deleteItem(tableName, key, expectedVersion):
            let table = try requireTable(tableName, from: pending)
            _ = try schemaKey(command, table)
            let storeKey = StorageLayout.itemKey(table: tableName, key: key)
            guard let existing = try loadCurrentVersion(storeKey, from: pending) else { throw itemNotFound(key, tableName) }
            try checkExpected(expectedVersion, existing: existing.version, key: key)
            pending.delete(storeKey)
            try adjustStatistics(tableName, &pending, items: -1, bytes: -ItemCodec.quickSize(existing.content))
            return .itemDeleted(table: tableName, key: key, deleted: Self.version(existing))

        case let .rollbackItem(tableName, key, expectedVersion):
            let table = try requireTable(tableName, from: pending)
            _ = try schemaKey(command, table)
            let storeKey = StorageLayout.itemKey(table: tableName, key: key)
            guard let existing = try loadItem(storeKey, from: pending) else { throw itemNotFound(key, tableName) }
            try checkExpected(expectedVersion, existing: existing.version, key: key)
            guard let previous = existing.previous else {
                throw NoSQLError(
                    .noPreviousVersion,
                    "item \(key) in table \(tableName) has no previous version to roll back to (it was never updated since it was created)")
            }
            let stored = StoredItem(current: ItemVersion(version: index, content: previous.content), previous: existing.current)
            pending.put(storeKey, RecordCoding.encode(stored))
            try adjustStatistics(
                tableName, &pending, items: 0,
                bytes: ItemCodec.quickSize(previous.content.bytes) - ItemCodec.quickSize(existing.content.bytes))
            return .itemRolledBack(table: tableName, stored)

        case .transactWrite(let writes):
            return .transactionWritten(try executeTransaction(writes, at: index, &pending))
        }
    }

    /// One write of a transaction, checked and ready to evaluate.
    private struct PreparedWrite {
        var write: ItemWrite
        var table: TableInfo
        var key: ItemKey
        var storeKey: Bytes
        var existing: (version: UInt64, content: Bytes)?
        var condition: Condition?
        var update: UpdateExpression?
    }

    /// All writes or none: the tables, keys and expressions are checked
    /// first (a failure there fails the whole command), then every condition
    /// and update is evaluated against the state before the transaction, and
    /// only when all succeed is anything written.
    private func executeTransaction(
        _ writes: [ItemWrite], at index: UInt64, _ pending: inout PendingWrites
    ) throws -> [ItemWriteOutcome] {
        var prepared: [PreparedWrite] = []
        var seen: Set<Bytes> = []
        for write in writes {
            let table = try requireTable(write.table, from: pending)
            let key = try write.key(in: table.schema, limits: limits)
            let storeKey = StorageLayout.itemKey(table: write.table, key: key)
            guard seen.insert(storeKey).inserted else {
                throw NoSQLError(.invalidArgument, "Transaction request cannot include multiple operations on one item")
            }
            var usage = ExpressionUsage()
            let (condition, update) = try write.parsed(usage: &usage)
            let existing = try loadCurrentVersion(storeKey, from: pending)
            try checkNotStale(existing, key: key, index: index)
            prepared.append(
                PreparedWrite(
                    write: write, table: table, key: key, storeKey: storeKey, existing: existing, condition: condition,
                    update: update))
        }

        var reasons: [CancellationReason] = []
        var newContents: [Item?] = []
        var cancelled = false
        for write in prepared {
            let needsValue = write.condition != nil || write.update != nil
            let old: AttributeMap? = needsValue ? write.existing.map { Item(uncheckedBytes: $0.content).attributes } : nil
            if let condition = write.condition, !ConditionEvaluator.evaluate(condition, on: old) {
                let item = write.write.returnItemOnConditionFailure ? write.existing.map { Item(uncheckedBytes: $0.content) } : nil
                reasons.append(CancellationReason(code: .conditionalCheckFailed, message: "The conditional request failed", item: item))
                newContents.append(nil)
                cancelled = true
                continue
            }
            switch write.write.action {
            case .put(let item):
                newContents.append(item)
            case .update:
                var map = old ?? write.table.schema.keyAttributes(of: write.key)
                do throws(NoSQLError) {
                    try UpdateEvaluator.apply(write.update ?? UpdateExpression(), to: &map, schema: write.table.schema)
                    let item = Item(map)
                    do throws(NoSQLError) {
                        _ = try NoSQLCommand.checkedItemSize(item, limits: limits)
                    } catch where error.code == .itemTooLarge {
                        throw NoSQLError(.invalidUpdate, "Item size to update has exceeded the maximum allowed size")
                    }
                    newContents.append(item)
                } catch {
                    reasons.append(CancellationReason(code: .validationError, message: error.message))
                    newContents.append(nil)
                    cancelled = true
                    continue
                }
            case .delete, .conditionCheck:
                newContents.append(nil)
            }
            reasons.append(CancellationReason(code: .none))
        }
        if cancelled {
            let codes = reasons.map(\.code.rawValue).joined(separator: ", ")
            throw NoSQLError(
                .transactionCanceled, "Transaction cancelled, please refer cancellation reasons for specific reasons [\(codes)]",
                cancellationReasons: reasons)
        }

        var outcomes: [ItemWriteOutcome] = []
        for (write, content) in zip(prepared, newContents) {
            let old = write.existing.map(Self.version)
            let oldSize = write.existing.map { ItemCodec.quickSize($0.content) } ?? 0
            switch write.write.action {
            case .put, .update:
                let item = content!
                pending.put(write.storeKey, RecordCoding.itemRecord(version: index, content: item.bytes, previous: write.existing))
                try adjustStatistics(write.table.name, &pending, items: old == nil ? 1 : 0, bytes: item.size - oldSize)
                outcomes.append(ItemWriteOutcome(key: write.key, old: old, new: ItemVersion(version: index, content: item)))
            case .delete:
                if old != nil {
                    pending.delete(write.storeKey)
                    try adjustStatistics(write.table.name, &pending, items: -1, bytes: -oldSize)
                }
                outcomes.append(ItemWriteOutcome(key: write.key, old: old, new: nil))
            case .conditionCheck:
                outcomes.append(ItemWriteOutcome(key: write.key, old: old, new: nil))
            }
        }
        return outcomes
    }

    private static func version(_ raw: (version: UInt64, content: Bytes)) -> ItemVersion {
        ItemVersion(version: raw.version, content: Item(uncheckedBytes: raw.content))
    }

    private func schemaKey(_ command: NoSQLCommand, _ table: TableInfo) throws(NoSQLError) -> ItemKey {
        // Item commands always yield a key; table commands never get here.
        guard let key = try command.validate(against: table.schema, limits: limits) else {
            throw NoSQLError(.invalidCommand, "\(command.name) has no item key")
        }
        return key
    }

    /// Unreachable while the last-index stamp is intact; kept so an item can
    /// never move backwards whatever the rest of the state says.
    private func checkNotStale(_ existing: (version: UInt64, content: Bytes)?, key: ItemKey, index: UInt64) throws(NoSQLError) {
        if let existing, existing.version >= index {
            throw NoSQLError(.staleWrite, "item \(key) is at version \(existing.version), newer than index \(index)")
        }
    }

    /// Keeps the table's item count and size current. Tables created before
    /// statistics existed have no record; theirs are counted when read.
    private func adjustStatistics(_ table: String, _ pending: inout PendingWrites, items: Int, bytes: Int) throws {
        let key = StorageLayout.statisticsKey(table)
        guard let record = try pending.get(key) else { return }
        var statistics = try RecordCoding.decodeStatistics(table: table, record)
        statistics.itemCount = UInt64(max(0, Int64(statistics.itemCount) + Int64(items)))
        statistics.sizeBytes = UInt64(max(0, Int64(statistics.sizeBytes) + Int64(bytes)))
        pending.put(key, RecordCoding.encode(statistics))
    }

    /// Optimistic locking, as Docker Swarm's `Version.Index`: nil accepts any
    /// state, 0 requires that the item does not exist, n requires version n.
    private func checkExpected(_ expected: UInt64?, existing: UInt64?, key: ItemKey) throws(NoSQLError) {
        guard let expected else { return }
        switch (expected, existing) {
        case (0, nil):
            return
        case (0, let existing?):
            throw NoSQLError(
                .versionConflict,
                "update out of sequence: item \(key) was expected not to exist, but it is at version \(existing)")
        case (_, nil):
            throw NoSQLError(
                .versionConflict, "update out of sequence: item \(key) was expected at version \(expected), but it does not exist")
        case (_, let existing?) where existing != expected:
            throw NoSQLError(
                .versionConflict,
                "update out of sequence: item \(key) was expected at version \(expected), but it is at version \(existing)")
        default:
            return
        }
    }

    func itemNotFound(_ key: ItemKey, _ table: String) -> NoSQLError {
        NoSQLError(.itemNotFound, "no item \(key) in table \(table)")
    }

    func tableExists(_ name: String) -> NoSQLError {
        NoSQLError(.tableExists, "table \(name) already exists")
    }
}
