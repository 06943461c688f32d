import StorageCore

/// The log entry form of a command: versioned, and deterministic (one byte
/// string per command), so every node decodes exactly what the leader proposed.
///
///     format (0x01) ‖ opcode ‖ fields
///
///     1 create-table   str(name) ‖ str(partition key) ‖ opt(str(sort key))
///     2 delete-table   str(name)
///     3 put-item       str(table) ‖ opt(u64 expected version) ‖ str(canonical JSON item)
///     4 delete-item    str(table) ‖ key ‖ opt(u64 expected version)
///     5 rollback-item  str(table) ‖ key ‖ opt(u64 expected version)
///
///     key    = value(partition) ‖ opt(value(sort))
///     value  = 0x01 ‖ str(UTF-8 string)  |  0x02 ‖ str(canonical number text)
///     str    = u32 length ‖ bytes;  opt = 0x00 | 0x01 ‖ value;  integers big-endian
///
/// Decoding is strict: unknown format or opcode, truncation, trailing bytes,
/// invalid UTF-8, and JSON or numbers not in canonical form are all
/// `invalid_command`. Meaning (is the item an object? is the name valid?) is
/// checked separately by `validate`, so it can fail with its own code.
extension NoSQLCommand {
    static let format: UInt8 = 0x01

    private enum Opcode: UInt8 {
        case createTable = 1
        case deleteTable = 2
        case putItem = 3
        case deleteItem = 4
        case rollbackItem = 5
    }

    private enum ValueTag: UInt8 {
        case string = 1
        case number = 2
    }

    public func encoded() -> Bytes {
        var writer = BinaryWriter()
        writer.write(Self.format)
        switch self {
        case .createTable(let schema):
            writer.write(Opcode.createTable.rawValue)
            writer.write(string: schema.name)
            writer.write(string: schema.partitionKey)
            writer.write(optional: schema.sortKey) { $0.write(string: $1) }
        case .deleteTable(let name):
            writer.write(Opcode.deleteTable.rawValue)
            writer.write(string: name)
        case let .putItem(table, item, expectedVersion):
            writer.write(Opcode.putItem.rawValue)
            writer.write(string: table)
            writer.write(optional: expectedVersion) { $0.write($1) }
            writer.write(lengthPrefixed: item.canonicalBytes)
        case let .deleteItem(table, key, expectedVersion):
            writer.write(Opcode.deleteItem.rawValue)
            writer.write(string: table)
            writer.write(key: key)
            writer.write(optional: expectedVersion) { $0.write($1) }
        case let .rollbackItem(table, key, expectedVersion):
            writer.write(Opcode.rollbackItem.rawValue)
            writer.write(string: table)
            writer.write(key: key)
            writer.write(optional: expectedVersion) { $0.write($1) }
        }
        return writer.bytes
    }

    /// Decodes what `encoded()` wrote. The item's nesting is bounded only
    /// loosely here (to bound recursion); `validate` applies the cluster's
    /// `maxNestingDepth` and reports a deep item as `invalid_item`.
    public init(decoding bytes: some Collection<UInt8>) throws(NoSQLError) {
        var reader = BinaryReader(Array(bytes))
        do {
            guard try reader.readUInt8() == Self.format else {
                throw NoSQLError(.invalidCommand, "unsupported command format")
            }
            let rawOpcode = try reader.readUInt8()
            guard let opcode = Opcode(rawValue: rawOpcode) else {
                throw NoSQLError(.invalidCommand, "unknown command opcode \(rawOpcode)")
            }
            switch opcode {
            case .createTable:
                let name = try reader.readString()
                let partitionKey = try reader.readString()
                let sortKey = try reader.readOptional { try $0.readString() }
                self = .createTable(TableSchema(name: name, partitionKey: partitionKey, sortKey: sortKey))
            case .deleteTable:
                self = .deleteTable(name: try reader.readString())
            case .putItem:
                let table = try reader.readString()
                let expectedVersion = try reader.readOptional { try $0.readUInt64() }
                let json = try reader.readLengthPrefixed()
                let item = try JSONValue.parse(json, maxDepth: RecordCoding.storedDepthLimit)
                guard item.canonicalBytes == json else {
                    throw NoSQLError(.invalidCommand, "item JSON is not in canonical form")
                }
                self = .putItem(table: table, item: item, expectedVersion: expectedVersion)
            case .deleteItem, .rollbackItem:
                let table = try reader.readString()
                let key = try reader.readKey()
                let expectedVersion = try reader.readOptional { try $0.readUInt64() }
                self =
                    opcode == .deleteItem
                    ? .deleteItem(table: table, key: key, expectedVersion: expectedVersion)
                    : .rollbackItem(table: table, key: key, expectedVersion: expectedVersion)
            }
            guard reader.isAtEnd else { throw NoSQLError(.invalidCommand, "trailing bytes after the command") }
        } catch let error as NoSQLError {
            throw error.code == .invalidCommand ? error : NoSQLError(.invalidCommand, "command item: \(error.message)")
        } catch {
            throw NoSQLError(.invalidCommand, "command is truncated")
        }
    }
}

extension BinaryWriter {
    fileprivate mutating func write(string: String) {
        write(lengthPrefixed: Array(string.utf8))
    }

    fileprivate mutating func write<T>(optional value: T?, _ body: (inout BinaryWriter, T) -> Void) {
        if let value {
            write(UInt8(1))
            body(&self, value)
        } else {
            write(UInt8(0))
        }
    }

    fileprivate mutating func write(value: KeyAttributeValue) {
        switch value {
        case .string(let string):
            write(UInt8(1))
            write(string: string)
        case .number(let number):
            write(UInt8(2))
            write(string: number.description)
        }
    }

    fileprivate mutating func write(key: ItemKey) {
        write(value: key.partition)
        write(optional: key.sort) { $0.write(value: $1) }
    }
}

extension BinaryReader {
    fileprivate mutating func readValue() throws -> KeyAttributeValue {
        switch try readUInt8() {
        case 1:
            return .string(try readString())
        case 2:
            let text = try readString()
            guard let number = JSONNumber(text), number.description == text else {
                throw NoSQLError(.invalidCommand, "key number \"\(text)\" is not in canonical form")
            }
            return .number(number)
        case let tag:
            throw NoSQLError(.invalidCommand, "unknown key value tag \(tag)")
        }
    }

    fileprivate mutating func readKey() throws -> ItemKey {
        let partition = try readValue()
        let sort = try readOptional { try $0.readValue() }
        return ItemKey(partition: partition, sort: sort)
    }
}
