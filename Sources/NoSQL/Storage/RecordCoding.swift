import StorageCore

/// The values stored under table, statistics and item keys: fixed field
/// order, big-endian integers, length-prefixed bytes, items in `Item`'s
/// canonical encoding. One encoding per value, so equal state is equal
/// bytes on every node and backend.
///
///     table record:  0x02 ‖ str(partition key name) ‖ opt(str(sort key name)) ‖ type ‖ type
///                    ‖ opt(billing mode ‖ u64 read units ‖ u64 write units) ‖ u64 creation time (ms) ‖ u64 createdAt
///     item record:   0x02 ‖ version (u64) ‖ str(item) ‖ opt(version (u64) ‖ str(item))
///     statistics:    0x01 ‖ item count (u64) ‖ total item size (u64)
///
/// `str` is a u32 length and the bytes; `opt` is 0x00 for none or 0x01 and
/// the value; types and billing modes as in `NoSQLCommand`'s encoding. The
/// leading byte is the record format. Format 0x01 table and item records
/// (names only; items as canonical JSON), written before DynamoDB types
/// existed, are still read.
///
/// An item record is assembled from raw item bytes: a put writes the new
/// item's bytes and copies the old current version's bytes as they are,
/// without decoding either (`itemRecord(version:content:previous:)`).
///
/// A record that does not decode means the store is damaged, not that a
/// client erred, so decoding throws `StorageError.corrupted`.
enum RecordCoding {
    static let format: UInt8 = 0x02
    static let jsonFormat: UInt8 = 0x01
    static let statisticsFormat: UInt8 = 0x01

    /// Stored items were depth-checked when written; reading them back uses
    /// the ceiling of every possible limit, so a change of the configured
    /// limit never hides old items.
    static let storedDepthLimit = NoSQLLimits.maxSupportedNestingDepth

    // MARK: Tables

    static func encode(_ table: TableInfo) -> Bytes {
        var writer = BinaryWriter()
        let schema = table.schema
        writer.write(format)
        writer.write(lengthPrefixed: Array(schema.partitionKey.utf8))
        writeOptional(schema.sortKey, to: &writer) { $0.write(lengthPrefixed: Array($1.utf8)) }
        writer.write(keyTypeCode(schema.partitionKeyType))
        writer.write(keyTypeCode(schema.sortKeyType))
        writeOptional(schema.billing, to: &writer) { writer, billing in
            writer.write(UInt8(billing.mode == .payPerRequest ? 0 : 1))
            writer.write(billing.readCapacityUnits)
            writer.write(billing.writeCapacityUnits)
        }
        writer.write(schema.creationTime)
        writer.write(table.createdAt)
        return writer.bytes
    }

    static func decodeTable(name: String, _ bytes: Bytes) throws -> TableInfo {
        try decode(bytes, formats: [format, jsonFormat], what: "table \(name)") { reader, format in
            let partitionKey = try reader.readString()
            let sortKey = try reader.readOptional { try $0.readString() }
            var schema = TableSchema(name: name, partitionKey: partitionKey, sortKey: sortKey)
            if format == Self.format {
                schema.partitionKeyType = try keyType(try reader.readUInt8())
                schema.sortKeyType = try keyType(try reader.readUInt8())
                schema.billing = try reader.readOptional { reader in
                    let mode: BillingSettings.Mode = try reader.readUInt8() == 0 ? .payPerRequest : .provisioned
                    return BillingSettings(mode: mode, readCapacityUnits: try reader.readUInt64(), writeCapacityUnits: try reader.readUInt64())
                }
                schema.creationTime = try reader.readUInt64()
            }
            return TableInfo(schema: schema, createdAt: try reader.readUInt64())
        }
    }

    private static func keyTypeCode(_ type: KeyAttributeType?) -> UInt8 {
        switch type {
        case nil: 0
        case .string?: 1
        case .number?: 2
        case .binary?: 3
        }
    }

    private static func keyType(_ code: UInt8) throws -> KeyAttributeType? {
        switch code {
        case 0: return nil
        case 1: return .string
        case 2: return .number
        case 3: return .binary
        default: throw StorageError.corrupted(path: "nosql table", reason: "unknown key type \(code)")
        }
    }

    // MARK: Statistics

    static func encode(_ statistics: TableStatistics) -> Bytes {
        var writer = BinaryWriter(capacity: 17)
        writer.write(statisticsFormat)
        writer.write(statistics.itemCount)
        writer.write(statistics.sizeBytes)
        return writer.bytes
    }

    static func decodeStatistics(table: String, _ bytes: Bytes) throws -> TableStatistics {
        try decode(bytes, formats: [statisticsFormat], what: "statistics of table \(table)") { reader, _ in
            TableStatistics(itemCount: try reader.readUInt64(), sizeBytes: try reader.readUInt64())
        }
    }

    // MARK: Items

    /// An item record from raw item encodings.
    static func itemRecord(version: UInt64, content: Bytes, previous: (version: UInt64, content: Bytes)?) -> Bytes {
        var writer = BinaryWriter(capacity: 32 + content.count + (previous?.content.count ?? 0))
        writer.write(format)
        writer.write(version)
        writer.write(lengthPrefixed: content)
        writeOptional(previous, to: &writer) { writer, previous in
            writer.write(previous.version)
            writer.write(lengthPrefixed: previous.content)
        }
        return writer.bytes
    }

    static func encode(_ item: StoredItem) -> Bytes {
        itemRecord(
            version: item.current.version, content: item.current.content.bytes,
            previous: item.previous.map { ($0.version, $0.content.bytes) })
    }

    /// The current version of a stored item as raw bytes, for copying into
    /// the next record: read from the record's fields without decoding the
    /// item (format 0x01 records are converted once).
    static func currentVersion(ofItemRecord bytes: Bytes, key: @autoclosure () -> Bytes) throws -> (version: UInt64, content: Bytes) {
        if bytes.first == format {
            var reader = BinaryReader(bytes)
            do {
                _ = try reader.readUInt8()
                return (try reader.readUInt64(), try reader.readLengthPrefixed())
            } catch {
                throw StorageError.corrupted(path: "nosql item \(hex(key()))", reason: "record is truncated")
            }
        }
        let stored = try decodeItem(bytes, key: key())
        return (stored.current.version, stored.current.content.bytes)
    }

    static func decodeItem(_ bytes: Bytes, key: @autoclosure () -> Bytes) throws -> StoredItem {
        try decode(bytes, formats: [format, jsonFormat], what: "item \(hex(key()))") { reader, format in
            func version() throws -> ItemVersion {
                let number = try reader.readUInt64()
                let content = try reader.readLengthPrefixed()
                if format == Self.format {
                    return ItemVersion(version: number, content: try Item(validating: content, maxDepth: storedDepthLimit))
                }
                return ItemVersion(version: number, item: try JSONValue.parse(content, maxDepth: storedDepthLimit))
            }
            let current = try version()
            switch try reader.readUInt8() {
            case 0: return StoredItem(current: current)
            case 1: return StoredItem(current: current, previous: try version())
            case let flag: throw StorageError.corrupted(path: "nosql item", reason: "invalid optional flag \(flag)")
            }
        }
    }

    // MARK: Plumbing

    private static func writeOptional<T>(_ value: T?, to writer: inout BinaryWriter, _ body: (inout BinaryWriter, T) -> Void) {
        if let value {
            writer.write(UInt8(1))
            body(&writer, value)
        } else {
            writer.write(UInt8(0))
        }
    }

    /// Decodes one record: checks the format byte and trailing bytes, and
    /// turns every failure into `StorageError.corrupted`.
    private static func decode<T>(
        _ bytes: Bytes, formats: [UInt8], what: @autoclosure () -> String, _ body: (inout BinaryReader, UInt8) throws -> T
    ) throws -> T {
        func corrupted(_ reason: String) -> StorageError {
            .corrupted(path: "nosql \(what())", reason: reason)
        }
        var reader = BinaryReader(bytes)
        do {
            let format = try reader.readUInt8()
            guard formats.contains(format) else { throw corrupted("unknown record format \(format)") }
            let value = try body(&reader, format)
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
}
