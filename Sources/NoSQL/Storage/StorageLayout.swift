import StorageCore

/// Where the NoSQL state lives in a `StateStore`. One namespace byte per
/// record type opens every key; 0xFF is never used (it belongs to the Raft
/// engine).
///
///     0x00 0x01                                   last applied command index (UInt64, big-endian)
///     0x01 ‖ table name (UTF-8)                   table record  (see `RecordCoding`)
///     0x02 ‖ str(table) ‖ val(pk) [‖ val(sk)]     item record   (see `RecordCoding`)
///
/// `str` and `val` are the self-delimiting, order-preserving encodings of
/// `OrderedKeyEncoding`. So:
/// - all tables are the range `prefix(0x01)`, in name byte order;
/// - all items of a table are `prefix(0x02 ‖ str(table))` (delete-table);
/// - all items of a partition are `prefix(0x02 ‖ str(table) ‖ val(pk))`,
///   sorted by sort key: numbers numerically, then strings by UTF-8 bytes;
/// - string sort keys starting with p are
///   `prefix(0x02 ‖ str(table) ‖ val(pk) ‖ 0x20 ‖ escaped(p))`.
///
/// Table names never contain 0x00 (see `TableSchema.validate(tableName:)`),
/// but items use the general string encoding anyway, so the layout does not
/// depend on that rule.
enum StorageLayout {
    static let metaNamespace: UInt8 = 0x00
    static let tableNamespace: UInt8 = 0x01
    static let itemNamespace: UInt8 = 0x02

    /// The highest log index the state machine has applied a command at; a
    /// command at or below it is stale (see `NoSQLStateMachine`).
    static let lastIndexKey: Bytes = [metaNamespace, 0x01]

    static let allTables = KeyRange.prefix([tableNamespace])

    static func tableKey(_ name: String) -> Bytes {
        [tableNamespace] + Array(name.utf8)
    }

    /// The table name of a table record key.
    static func tableName(fromKey key: Bytes) -> String? {
        guard key.first == tableNamespace else { return nil }
        return String(validating: key.dropFirst(), as: UTF8.self)
    }

    static func tableItemsPrefix(_ table: String) -> Bytes {
        var key: Bytes = [itemNamespace]
        OrderedKeyEncoding.appendTerminated(table, to: &key)
        return key
    }

    static func partitionPrefix(table: String, partition: KeyAttributeValue) -> Bytes {
        var key = tableItemsPrefix(table)
        OrderedKeyEncoding.append(partition, to: &key)
        return key
    }

    static func itemKey(table: String, key: ItemKey) -> Bytes {
        var bytes = partitionPrefix(table: table, partition: key.partition)
        if let sort = key.sort { OrderedKeyEncoding.append(sort, to: &bytes) }
        return bytes
    }

    /// The keys of a query: the whole partition, or its string sort keys
    /// starting with `sortKeyPrefix`.
    static func queryRange(table: String, partition: KeyAttributeValue, sortKeyPrefix: String?) -> KeyRange {
        var prefix = partitionPrefix(table: table, partition: partition)
        if let sortKeyPrefix {
            prefix.append(OrderedKeyEncoding.stringTag)
            OrderedKeyEncoding.appendEscaped(sortKeyPrefix, to: &prefix)
        }
        return .prefix(prefix)
    }
}
