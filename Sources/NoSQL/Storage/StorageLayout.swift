import StorageCore

/// Where the NoSQL state lives in a `StateStore`. One namespace byte per
/// record type opens every key; 0xFF is never used (it belongs to the Raft
/// engine).
///
///     0x00 0x01                                   last applied command index (UInt64, big-endian)
///     0x01 ‖ table name (UTF-8)                   table record       (see `RecordCoding`)
///     0x02 ‖ str(table) ‖ val(pk) [‖ val(sk)]     item record        (see `RecordCoding`)
///     0x03 ‖ table name (UTF-8)                   table statistics   (see `RecordCoding`)
///
/// `str` and `val` are the self-delimiting, order-preserving encodings of
/// `OrderedKeyEncoding`. So:
/// - all tables are the range `prefix(0x01)`, in name byte order;
/// - all items of a table are `prefix(0x02 ‖ str(table))` (delete-table, Scan);
/// - all items of a partition are `prefix(0x02 ‖ str(table) ‖ val(pk))`,
///   sorted by sort key: numbers numerically, then strings by UTF-8 bytes,
///   then binary values by bytes;
/// - a sort key condition (`<`, `BETWEEN`, `begins_with`...) is one range
///   inside the partition (see `queryRange`).
///
/// Table names never contain 0x00 (see `TableSchema.validate(tableName:)`),
/// but items use the general string encoding anyway, so the layout does not
/// depend on that rule.
enum StorageLayout {
    static let metaNamespace: UInt8 = 0x00
    static let tableNamespace: UInt8 = 0x01
    static let itemNamespace: UInt8 = 0x02
    static let statisticsNamespace: UInt8 = 0x03

    /// The highest log index the state machine has applied a command at; a
    /// command at or below it is stale (see `NoSQLStateMachine`).
    static let lastIndexKey: Bytes = [metaNamespace, 0x01]

    static let allTables = KeyRange.prefix([tableNamespace])

    static func tableKey(_ name: String) -> Bytes {
        [tableNamespace] + Array(name.utf8)
    }

    static func statisticsKey(_ name: String) -> Bytes {
        [statisticsNamespace] + Array(name.utf8)
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
        queryRange(table: table, partition: partition, sortKey: sortKeyPrefix.map { .beginsWith(.string($0)) })
    }

    /// The keys of a partition whose sort key satisfies `condition`: one
    /// contiguous range, because the encoding preserves order and is
    /// prefix-free (so `encoding(v) ‖ 0x00` is the first key after every
    /// key up to v). Comparisons stay within the condition value's type.
    static func queryRange(table: String, partition: KeyAttributeValue, sortKey condition: SortKeyCondition?) -> KeyRange {
        let prefix = partitionPrefix(table: table, partition: partition)
        guard let condition else { return .prefix(prefix) }
        func encoded(_ value: KeyAttributeValue) -> Bytes {
            var bytes = prefix
            OrderedKeyEncoding.append(value, to: &bytes)
            return bytes
        }
        func typeBounds(_ value: KeyAttributeValue) -> (lower: Bytes, upper: Bytes) {
            let tags = OrderedKeyEncoding.tagRange(of: value.type)
            return (prefix + [tags.lower], prefix + [tags.upper])
        }
        switch condition {
        case .compare(.equal, let value):
            return .prefix(encoded(value))
        case .compare(.less, let value):
            return KeyRange(from: typeBounds(value).lower, to: encoded(value))
        case .compare(.lessOrEqual, let value):
            return KeyRange(from: typeBounds(value).lower, to: encoded(value) + [0x00])
        case .compare(.greater, let value):
            return KeyRange(from: encoded(value) + [0x00], to: typeBounds(value).upper)
        case .compare(.greaterOrEqual, let value):
            return KeyRange(from: encoded(value), to: typeBounds(value).upper)
        case .compare(.notEqual, _):
            // Not a key condition (the planner refuses it); an empty range.
            return KeyRange(from: prefix, to: prefix)
        case let .between(low, high):
            return KeyRange(from: encoded(low), to: encoded(high) + [0x00])
        case .beginsWith(.string(let text)):
            var bytes = prefix + [OrderedKeyEncoding.stringTag]
            OrderedKeyEncoding.appendEscaped(text, to: &bytes)
            return .prefix(bytes)
        case .beginsWith(.binary(let data)):
            var bytes = prefix + [OrderedKeyEncoding.binaryTag]
            OrderedKeyEncoding.appendEscaped(bytes: data, to: &bytes)
            return .prefix(bytes)
        case .beginsWith(.number):
            return KeyRange(from: prefix, to: prefix)
        }
    }
}
