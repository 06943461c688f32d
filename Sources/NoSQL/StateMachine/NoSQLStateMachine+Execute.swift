import StorageCore

/// What each command does to the state.
///
/// Every command first reads and checks, and only then writes: a
/// `NoSQLError` is never thrown after a write to `pending`, so a failed
/// command leaves the batch exactly as it found it (only the index stamp
/// remains, by design).
extension NoSQLStateMachine {
    func execute(_ command: NoSQLCommand, at index: UInt64, _ pending: inout PendingWrites) throws -> CommandOutcome {
        try command.validate(limits: limits)
        switch command {
        case .createTable(let schema):
            guard try loadTable(schema.name, from: pending) == nil else { throw tableExists(schema.name) }
            let table = TableInfo(schema: schema, createdAt: index)
            pending.put(StorageLayout.tableKey(schema.name), RecordCoding.encode(table))
            return .tableCreated(table)

        case .deleteTable(let name):
            let table = try requireTable(name, from: pending)
            let itemKeys = try pending.keys(in: .prefix(StorageLayout.tableItemsPrefix(name)))
            for key in itemKeys { pending.delete(key) }
            pending.delete(StorageLayout.tableKey(name))
            return .tableDeleted(table, itemsDeleted: itemKeys.count)

        case let .putItem(tableName, item, expectedVersion):
            let table = try requireTable(tableName, from: pending)
            let key = try schemaKey(command, table)
            let storeKey = StorageLayout.itemKey(table: tableName, key: key)
            let existing = try loadItem(storeKey, from: pending)
            try checkExpected(expectedVersion, existing: existing, key: key)
            if let existing, existing.version >= index {
                // Unreachable while the last-index stamp is intact; kept so an
                // item can never move backwards whatever the rest of the state says.
                throw NoSQLError(.staleWrite, "item \(key) is at version \(existing.version), newer than index \(index)")
            }
            let stored = StoredItem(current: ItemVersion(version: index, item: item), previous: existing?.current)
            pending.put(storeKey, RecordCoding.encode(stored))
            return .itemPut(table: tableName, stored)

        case let .deleteItem(tableName, key, expectedVersion):
            let table = try requireTable(tableName, from: pending)
            _ = try schemaKey(command, table)
            let storeKey = StorageLayout.itemKey(table: tableName, key: key)
            guard let existing = try loadItem(storeKey, from: pending) else { throw itemNotFound(key, tableName) }
            try checkExpected(expectedVersion, existing: existing, key: key)
            pending.delete(storeKey)
            return .itemDeleted(table: tableName, key: key, deleted: existing.current)

        case let .rollbackItem(tableName, key, expectedVersion):
            let table = try requireTable(tableName, from: pending)
            _ = try schemaKey(command, table)
            let storeKey = StorageLayout.itemKey(table: tableName, key: key)
            guard let existing = try loadItem(storeKey, from: pending) else { throw itemNotFound(key, tableName) }
            try checkExpected(expectedVersion, existing: existing, key: key)
            guard let previous = existing.previous else {
                throw NoSQLError(
                    .noPreviousVersion,
                    "item \(key) in table \(tableName) has no previous version to roll back to (it was never updated since it was created)")
            }
            let stored = StoredItem(current: ItemVersion(version: index, item: previous.item), previous: existing.current)
            pending.put(storeKey, RecordCoding.encode(stored))
            return .itemRolledBack(table: tableName, stored)
        }
    }

    private func schemaKey(_ command: NoSQLCommand, _ table: TableInfo) throws(NoSQLError) -> ItemKey {
        // Item commands always yield a key; table commands never get here.
        guard let key = try command.validate(against: table.schema, limits: limits) else {
            throw NoSQLError(.invalidCommand, "\(command.name) has no item key")
        }
        return key
    }

    /// Optimistic locking, as Docker Swarm's `Version.Index`: nil accepts any
    /// state, 0 requires that the item does not exist, n requires version n.
    private func checkExpected(_ expected: UInt64?, existing: StoredItem?, key: ItemKey) throws(NoSQLError) {
        guard let expected else { return }
        switch (expected, existing) {
        case (0, nil):
            return
        case (0, let existing?):
            throw NoSQLError(
                .versionConflict,
                "update out of sequence: item \(key) was expected not to exist, but it is at version \(existing.version)")
        case (_, nil):
            throw NoSQLError(
                .versionConflict, "update out of sequence: item \(key) was expected at version \(expected), but it does not exist")
        case (_, let existing?) where existing.version != expected:
            throw NoSQLError(
                .versionConflict,
                "update out of sequence: item \(key) was expected at version \(expected), but it is at version \(existing.version)")
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
