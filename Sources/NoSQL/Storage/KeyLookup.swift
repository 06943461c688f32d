import StorageCore

/// Point reads, from a store or from a store under pending writes, so the
/// table and item loading code is shared by apply and by reads.
protocol KeyLookup {
    func get(_ key: Bytes) throws -> Bytes?
}

extension PendingWrites: KeyLookup {}

/// A store read directly (queries, `prepare`).
struct StoreReader: KeyLookup {
    let store: any StateStore
    func get(_ key: Bytes) throws -> Bytes? { try store.get(key) }
}

extension NoSQLStateMachine {
    func loadTable(_ name: String, from reader: some KeyLookup) throws -> TableInfo? {
        guard let bytes = try reader.get(StorageLayout.tableKey(name)) else { return nil }
        return try RecordCoding.decodeTable(name: name, bytes)
    }

    func requireTable(_ name: String, from reader: some KeyLookup) throws -> TableInfo {
        guard let table = try loadTable(name, from: reader) else {
            throw NoSQLError(.tableNotFound, "table \(name) does not exist")
        }
        return table
    }

    func loadItem(_ key: Bytes, from reader: some KeyLookup) throws -> StoredItem? {
        guard let bytes = try reader.get(key) else { return nil }
        return try RecordCoding.decodeItem(bytes, key: key)
    }
}
