import NoSQL
import StorageCore

/// Carries a NoSQL command's result from the apply loop back to the client
/// that proposed it. The Raft runtime hands results over as bytes, so the
/// engine stays ignorant of what a state machine returns.
///
///     tag (1) | fields, strings and JSON length-prefixed, integers big-endian
///
/// Tags: 0 failure (code, message), 1 table created, 2 table deleted,
/// 3 item put, 4 item deleted, 5 item rolled back.
enum CommandResultCodec {
    static func encode(_ result: CommandResult) -> Bytes {
        var w = BinaryWriter()
        switch result {
        case .failure(let error):
            w.write(UInt8(0))
            w.write(lengthPrefixed: Array(error.code.rawValue.utf8))
            w.write(lengthPrefixed: Array(error.message.utf8))
        case .success(.tableCreated(let table)):
            w.write(UInt8(1))
            write(table, to: &w)
        case .success(.tableDeleted(let table, let items)):
            w.write(UInt8(2))
            write(table, to: &w)
            w.write(UInt64(items))
        case .success(.itemPut(let table, let item)):
            w.write(UInt8(3))
            w.write(lengthPrefixed: Array(table.utf8))
            write(item, to: &w)
        case .success(.itemDeleted(let table, let key, let deleted)):
            w.write(UInt8(4))
            w.write(lengthPrefixed: Array(table.utf8))
            w.write(lengthPrefixed: key.partition.jsonValue.canonicalBytes)
            w.write(UInt8(key.sort == nil ? 0 : 1))
            if let sort = key.sort { w.write(lengthPrefixed: sort.jsonValue.canonicalBytes) }
            write(deleted, to: &w)
        case .success(.itemRolledBack(let table, let item)):
            w.write(UInt8(5))
            w.write(lengthPrefixed: Array(table.utf8))
            write(item, to: &w)
        }
        return w.bytes
    }

    static func decode(_ bytes: Bytes) throws -> CommandResult {
        var r = BinaryReader(bytes)
        do {
            switch try r.readUInt8() {
            case 0:
                let code = try string(&r)
                let message = try string(&r)
                guard let known = NoSQLError.Code(rawValue: code) else { throw malformed("unknown error code \(code)") }
                return .failure(NoSQLError(known, message))
            case 1:
                return .success(.tableCreated(try table(&r)))
            case 2:
                let info = try table(&r)
                return .success(.tableDeleted(info, itemsDeleted: Int(try r.readUInt64())))
            case 3:
                let name = try string(&r)
                return .success(.itemPut(table: name, try storedItem(&r)))
            case 4:
                let name = try string(&r)
                let partition = try KeyAttributeValue(try json(&r), attribute: "partition key")
                let sort = try r.readUInt8() == 1 ? try KeyAttributeValue(try json(&r), attribute: "sort key") : nil
                let deleted = try version(&r)
                return .success(.itemDeleted(table: name, key: ItemKey(partition: partition, sort: sort), deleted: deleted))
            case 5:
                let name = try string(&r)
                return .success(.itemRolledBack(table: name, try storedItem(&r)))
            case let tag:
                throw malformed("unknown result tag \(tag)")
            }
        } catch is BinaryReader.Truncated {
            throw malformed("truncated result")
        }
    }

    private static func malformed(_ why: String) -> NodeError {
        .internal("cannot decode a command result: \(why)")
    }

    private static func write(_ table: TableInfo, to w: inout BinaryWriter) {
        w.write(lengthPrefixed: Array(table.schema.name.utf8))
        w.write(lengthPrefixed: Array(table.schema.partitionKey.utf8))
        w.write(UInt8(table.schema.sortKey == nil ? 0 : 1))
        if let sortKey = table.schema.sortKey { w.write(lengthPrefixed: Array(sortKey.utf8)) }
        w.write(table.createdAt)
    }

    private static func write(_ version: ItemVersion, to w: inout BinaryWriter) {
        w.write(version.version)
        w.write(lengthPrefixed: version.item.canonicalBytes)
    }

    private static func write(_ item: StoredItem, to w: inout BinaryWriter) {
        write(item.current, to: &w)
        w.write(UInt8(item.previous == nil ? 0 : 1))
        if let previous = item.previous { write(previous, to: &w) }
    }

    private static func string(_ r: inout BinaryReader) throws -> String {
        String(decoding: try r.readLengthPrefixed(), as: UTF8.self)
    }

    private static func json(_ r: inout BinaryReader) throws -> JSONValue {
        try JSONValue.parse(try r.readLengthPrefixed(), maxDepth: .max)
    }

    private static func table(_ r: inout BinaryReader) throws -> TableInfo {
        let name = try string(&r)
        let partitionKey = try string(&r)
        let sortKey = try r.readUInt8() == 1 ? try string(&r) : nil
        let createdAt = try r.readUInt64()
        return TableInfo(schema: TableSchema(name: name, partitionKey: partitionKey, sortKey: sortKey), createdAt: createdAt)
    }

    private static func version(_ r: inout BinaryReader) throws -> ItemVersion {
        let number = try r.readUInt64()
        return ItemVersion(version: number, item: try json(&r))
    }

    private static func storedItem(_ r: inout BinaryReader) throws -> StoredItem {
        let current = try version(&r)
        let previous = try r.readUInt8() == 1 ? try version(&r) : nil
        return StoredItem(current: current, previous: previous)
    }
}
