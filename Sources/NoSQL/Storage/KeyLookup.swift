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

    /// The current version of an item as raw bytes, without decoding the item.
    func loadCurrentVersion(_ key: Bytes, from reader: some KeyLookup) throws -> (version: UInt64, content: Bytes)? {
        guard let bytes = try reader.get(key) else { return nil }
        return try RecordCoding.currentVersion(ofItemRecord: bytes, key: key)
    }

    /// The table's statistics; counted from its items for a table created
    /// before statistics were kept.
    func loadStatistics(_ name: String, from store: any StateStore) throws -> TableStatistics {
        if let bytes = try store.get(StorageLayout.statisticsKey(name)) {
            return try RecordCoding.decodeStatistics(table: name, bytes)
        }
        var statistics = TableStatistics()
        var lower = StorageLayout.tableItemsPrefix(name)
        let range = KeyRange.prefix(lower)
        while true {
            let page = try store.scan(KeyRange(from: lower, to: range.upper), limit: 1024)
            for pair in page {
                statistics.itemCount += 1
                statistics.sizeBytes += UInt64(ItemCodec.quickSize(try RecordCoding.currentVersion(ofItemRecord: pair.value, key: pair.key).content))
            }
            guard page.count == 1024, let last = page.last else { return statistics }
            lower = last.key + [0x00]
        }
    }
}
