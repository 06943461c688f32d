import StorageCore

/// The values stored under table and item keys: fixed field order, big-endian
/// integers, length-prefixed bytes, JSON in canonical form. One encoding per
/// value, so equal state is equal bytes on every node and backend.
///
///     table record:  0x01 ‖ str(partition key name) ‖ opt(str(sort key name)) ‖ createdAt (u64)
///     item record:   0x01 ‖ version (u64) ‖ str(canonical JSON) ‖ opt(version (u64) ‖ str(canonical JSON))
///
/// `str` is a u32 length and the bytes; `opt` is 0x00 for none or 0x01 and
/// the value. The leading byte is the record format, for later migrations.
///
/// A record that does not decode means the store is damaged, not that a
/// client erred, so decoding throws `StorageError.corrupted`.
enum RecordCoding {
    static let format: UInt8 = 0x01

    /// Stored JSON was depth-checked when written; reading it back uses the
    /// ceiling of every possible limit, so a change of the configured limit
    /// never hides old items.
    static let storedDepthLimit = NoSQLLimits.maxSupportedNestingDepth

    static func encode(_ table: TableInfo) -> Bytes {
        var writer = BinaryWriter()
        writer.write(format)
        writer.write(lengthPrefixed: Array(table.schema.partitionKey.utf8))
        if let sortKey = table.schema.sortKey {
            writer.write(UInt8(1))
            writer.write(lengthPrefixed: Array(sortKey.utf8))
        } else {
            writer.write(UInt8(0))
        }
        writer.write(table.createdAt)
        return writer.bytes
    }

    static func decodeTable(name: String, _ bytes: Bytes) throws -> TableInfo {
        try decode(bytes, what: "table \(name)") { reader in
            let partitionKey = try reader.readString()
            let sortKey = try reader.readOptional { try $0.readString() }
            let createdAt = try reader.readUInt64()
            return TableInfo(schema: TableSchema(name: name, partitionKey: partitionKey, sortKey: sortKey), createdAt: createdAt)
        }
    }

    static func encode(_ item: StoredItem) -> Bytes {
        var writer = BinaryWriter(capacity: 64)
        writer.write(format)
        writer.write(item.current.version)
        writer.write(lengthPrefixed: item.current.item.canonicalBytes)
        if let previous = item.previous {
            writer.write(UInt8(1))
            writer.write(previous.version)
            writer.write(lengthPrefixed: previous.item.canonicalBytes)
        } else {
            writer.write(UInt8(0))
        }
        return writer.bytes
    }

    static func decodeItem(_ bytes: Bytes, key: @autoclosure () -> Bytes) throws -> StoredItem {
        try decode(bytes, what: "item \(hex(key()))") { reader in
            let current = try reader.readItemVersion()
            let previous = try reader.readOptional { try $0.readItemVersion() }
            return StoredItem(current: current, previous: previous)
        }
    }

    /// Decodes one record: checks the format byte and trailing bytes, and
    /// turns every failure into `StorageError.corrupted`.
    private static func decode<T>(
        _ bytes: Bytes, what: @autoclosure () -> String, _ body: (inout BinaryReader) throws -> T
    ) throws -> T {
        func corrupted(_ reason: String) -> StorageError {
            .corrupted(path: "nosql \(what())", reason: reason)
        }
        var reader = BinaryReader(bytes)
        do {
            guard try reader.readUInt8() == format else { throw corrupted("unknown record format") }
            let value = try body(&reader)
            guard reader.isAtEnd else { throw corrupted("trailing bytes after the record") }
            return value
        } catch let error as StorageError {
            throw error
        } catch is BinaryReader.Truncated {
            throw corrupted("record is truncated")
        } catch {
            throw corrupted("\(error)")
        }
    }

    static func hex(_ bytes: Bytes) -> String {
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] })
    }
}

extension BinaryReader {
    /// A length-prefixed string that must be valid UTF-8.
    mutating func readString() throws -> String {
        guard let string = String(validating: try readLengthPrefixed(), as: UTF8.self) else {
            throw NoSQLError(.invalidCommand, "string is not valid UTF-8")
        }
        return string
    }

    /// 0x00 for none, 0x01 followed by the value; any other flag is an error.
    mutating func readOptional<T>(_ read: (inout BinaryReader) throws -> T) throws -> T? {
        switch try readUInt8() {
        case 0: return nil
        case 1: return try read(&self)
        case let flag: throw NoSQLError(.invalidCommand, "invalid optional flag \(flag)")
        }
    }

    mutating func readItemVersion() throws -> ItemVersion {
        let version = try readUInt64()
        let item = try JSONValue.parse(try readLengthPrefixed(), maxDepth: RecordCoding.storedDepthLimit)
        return ItemVersion(version: version, item: item)
    }
}
