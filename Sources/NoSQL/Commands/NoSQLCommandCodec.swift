import StorageCore

/// The log entry form of a command: versioned, and deterministic (one byte
/// string per command), so every node decodes exactly what the leader proposed.
///
///     format (0x02) ‖ opcode ‖ fields
///
///     1 create-table   str(name) ‖ str(partition key) ‖ opt(str(sort key)) ‖ type ‖ type
///                      ‖ opt(billing mode ‖ u64 read units ‖ u64 write units) ‖ u64 creation time (ms)
///     2 delete-table   str(name)
///     3 put-item       str(table) ‖ opt(u64 expected version) ‖ str(item)
///     4 delete-item    str(table) ‖ key ‖ opt(u64 expected version)
///     5 rollback-item  str(table) ‖ key ‖ opt(u64 expected version)
///     6 transact-write u32 count ‖ write*
///
///     write  = action ‖ str(table) ‖ (put: str(item) | update: key ‖ str(expression) | delete, check: key)
///              ‖ opt(str(condition)) ‖ names ‖ values ‖ 0x00 | 0x01 (return the item on a failed condition)
///     action = 1 put | 2 update | 3 delete | 4 condition check
///     names  = u32 count ‖ (str(#placeholder) ‖ str(name))*    placeholders in ascending byte order
///     values = u32 count ‖ (str(:placeholder) ‖ str(value))*   values in `Item`'s encoding
///     key    = value(partition) ‖ opt(value(sort))
///     value  = 0x01 ‖ str(UTF-8) | 0x02 ‖ str(canonical number) | 0x03 ‖ str(bytes)
///     type   = 0 none | 1 S | 2 N | 3 B;  billing mode = 0 PAY_PER_REQUEST | 1 PROVISIONED
///     str    = u32 length ‖ bytes;  opt = 0x00 | 0x01 ‖ value;  integers big-endian
///
/// Items are in `Item`'s canonical encoding, so applying a put copies them
/// into the store without parsing them into values.
///
/// Format 0x01, written before DynamoDB types existed, is still decoded:
/// opcodes 1-5 with an item as canonical JSON text and no key types, billing
/// or creation time.
///
/// Decoding is strict: unknown format or opcode, truncation, trailing bytes,
/// invalid UTF-8, items or numbers not in canonical form, placeholders out of
/// order are all `invalid_command`. Meaning (is the item a map? is the name
/// valid? does the expression parse?) is checked separately, so it can fail
/// with its own code.
extension NoSQLCommand {
    static let format: UInt8 = 0x02
    static let jsonFormat: UInt8 = 0x01

    private enum Opcode: UInt8 {
        case createTable = 1
        case deleteTable = 2
        case putItem = 3
        case deleteItem = 4
        case rollbackItem = 5
        case transactWrite = 6
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
            writer.write(keyType: schema.partitionKeyType)
            writer.write(keyType: schema.sortKeyType)
            writer.write(optional: schema.billing) { writer, billing in
                writer.write(UInt8(billing.mode == .payPerRequest ? 0 : 1))
                writer.write(billing.readCapacityUnits)
                writer.write(billing.writeCapacityUnits)
            }
            writer.write(schema.creationTime)
        case .deleteTable(let name):
            writer.write(Opcode.deleteTable.rawValue)
            writer.write(string: name)
        case let .putItem(table, item, expectedVersion):
            writer.write(Opcode.putItem.rawValue)
            writer.write(string: table)
            writer.write(optional: expectedVersion) { $0.write($1) }
            writer.write(lengthPrefixed: item.bytes)
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
        case .transactWrite(let writes):
            writer.write(Opcode.transactWrite.rawValue)
            writer.write(UInt32(writes.count))
            for write in writes { writer.write(itemWrite: write) }
        }
        return writer.bytes
    }

    /// Decodes what `encoded()` wrote (or format 0x01). Items nesting deeper
    /// than `NoSQLLimits.maxSupportedNestingDepth` are refused here (it
    /// bounds recursion); `validate` applies the cluster's `maxNestingDepth`
    /// and reports a deep item as `invalid_item`.
    public init(decoding bytes: some Collection<UInt8>) throws(NoSQLError) {
        var reader = BinaryReader(Array(bytes))
        do {
            let format = try reader.readUInt8()
            guard format == Self.format || format == Self.jsonFormat else {
                throw NoSQLError(.invalidCommand, "unsupported command format \(format)")
            }
            let rawOpcode = try reader.readUInt8()
            guard let opcode = Opcode(rawValue: rawOpcode), format == Self.format || opcode != .transactWrite else {
                throw NoSQLError(.invalidCommand, "unknown command opcode \(rawOpcode)")
            }
            switch opcode {
            case .createTable:
                let name = try reader.readString()
                let partitionKey = try reader.readString()
                let sortKey = try reader.readOptional { try $0.readString() }
                var schema = TableSchema(name: name, partitionKey: partitionKey, sortKey: sortKey)
                if format == Self.format {
                    schema.partitionKeyType = try reader.readKeyType()
                    schema.sortKeyType = try reader.readKeyType()
                    schema.billing = try reader.readOptional { reader in
                        let mode: BillingSettings.Mode
                        switch try reader.readUInt8() {
                        case 0: mode = .payPerRequest
                        case 1: mode = .provisioned
                        case let other: throw NoSQLError(.invalidCommand, "unknown billing mode \(other)")
                        }
                        return BillingSettings(mode: mode, readCapacityUnits: try reader.readUInt64(), writeCapacityUnits: try reader.readUInt64())
                    }
                    schema.creationTime = try reader.readUInt64()
                }
                self = .createTable(schema)
            case .deleteTable:
                self = .deleteTable(name: try reader.readString())
            case .putItem:
                let table = try reader.readString()
                let expectedVersion = try reader.readOptional { try $0.readUInt64() }
                let item: Item
                if format == Self.format {
                    item = try reader.readItem()
                } else {
                    let json = try reader.readLengthPrefixed()
                    let value = try JSONValue.parse(json, maxDepth: RecordCoding.storedDepthLimit)
                    guard value.canonicalBytes == json else {
                        throw NoSQLError(.invalidCommand, "item JSON is not in canonical form")
                    }
                    item = Item(json: value)
                }
                self = .putItem(table: table, item: item, expectedVersion: expectedVersion)
            case .deleteItem, .rollbackItem:
                let table = try reader.readString()
                let key = try reader.readKey(binaryAllowed: format == Self.format)
                let expectedVersion = try reader.readOptional { try $0.readUInt64() }
                self =
                    opcode == .deleteItem
                    ? .deleteItem(table: table, key: key, expectedVersion: expectedVersion)
                    : .rollbackItem(table: table, key: key, expectedVersion: expectedVersion)
            case .transactWrite:
                let count = Int(try reader.readUInt32())
                guard count <= Self.maxTransactionWrites, count <= reader.remaining else {
                    throw NoSQLError(.invalidCommand, "a transaction of \(count) writes")
                }
                var writes: [ItemWrite] = []
                for _ in 0..<count { writes.append(try reader.readItemWrite()) }
                self = .transactWrite(writes)
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

    fileprivate mutating func write(keyType: KeyAttributeType?) {
        switch keyType {
        case nil: write(UInt8(0))
        case .string?: write(UInt8(1))
        case .number?: write(UInt8(2))
        case .binary?: write(UInt8(3))
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
        case .binary(let bytes):
            write(UInt8(3))
            write(lengthPrefixed: bytes)
        }
    }

    fileprivate mutating func write(key: ItemKey) {
        write(value: key.partition)
        write(optional: key.sort) { $0.write(value: $1) }
    }

    fileprivate mutating func write(itemWrite: ItemWrite) {
        switch itemWrite.action {
        case .put(let item):
            write(UInt8(1))
            write(string: itemWrite.table)
            write(lengthPrefixed: item.bytes)
        case let .update(key, expression):
            write(UInt8(2))
            write(string: itemWrite.table)
            write(key: key)
            write(string: expression)
        case .delete(let key):
            write(UInt8(3))
            write(string: itemWrite.table)
            write(key: key)
        case .conditionCheck(let key):
            write(UInt8(4))
            write(string: itemWrite.table)
            write(key: key)
        }
        write(optional: itemWrite.condition) { $0.write(string: $1) }
        let names = itemWrite.attributes.names.sorted { $0.key.utf8Precedes($1.key) }
        write(UInt32(names.count))
        for (placeholder, name) in names {
            write(string: placeholder)
            write(string: name)
        }
        let values = itemWrite.attributes.values.sorted { $0.key.utf8Precedes($1.key) }
        write(UInt32(values.count))
        for (placeholder, value) in values {
            write(string: placeholder)
            write(lengthPrefixed: Item(value).bytes)
        }
        write(UInt8(itemWrite.returnItemOnConditionFailure ? 1 : 0))
    }
}

extension BinaryReader {
    fileprivate mutating func readKeyType() throws -> KeyAttributeType? {
        switch try readUInt8() {
        case 0: return nil
        case 1: return .string
        case 2: return .number
        case 3: return .binary
        case let tag: throw NoSQLError(.invalidCommand, "unknown key type \(tag)")
        }
    }

    fileprivate mutating func readItem() throws -> Item {
        do {
            return try Item(validating: try readLengthPrefixed(), maxDepth: RecordCoding.storedDepthLimit)
        } catch let error as NoSQLError {
            throw NoSQLError(.invalidCommand, "command item: \(error.message)")
        }
    }

    fileprivate mutating func readValue(binaryAllowed: Bool) throws -> KeyAttributeValue {
        switch try readUInt8() {
        case 1:
            return .string(try readString())
        case 2:
            let text = try readString()
            guard let number = JSONNumber(text), number.description == text else {
                throw NoSQLError(.invalidCommand, "key number \"\(text)\" is not in canonical form")
            }
            return .number(number)
        case 3 where binaryAllowed:
            return .binary(try readLengthPrefixed())
        case let tag:
            throw NoSQLError(.invalidCommand, "unknown key value tag \(tag)")
        }
    }

    fileprivate mutating func readKey(binaryAllowed: Bool = true) throws -> ItemKey {
        let partition = try readValue(binaryAllowed: binaryAllowed)
        let sort = try readOptional { try $0.readValue(binaryAllowed: binaryAllowed) }
        return ItemKey(partition: partition, sort: sort)
    }

    /// Placeholder maps: keys strictly ascending, so each map has one encoding.
    private mutating func readPlaceholders<T>(_ readValue: (inout BinaryReader) throws -> T) throws -> [String: T] {
        let count = Int(try readUInt32())
        guard count <= remaining else { throw NoSQLError(.invalidCommand, "command is truncated") }
        var result: [String: T] = [:]
        var previous: String?
        for _ in 0..<count {
            let placeholder = try readString()
            if let previous, !previous.utf8Precedes(placeholder) {
                throw NoSQLError(.invalidCommand, "expression placeholders are not in ascending order")
            }
            previous = placeholder
            // Swift compares strings by canonical equivalence: two different byte strings may be one key.
            guard result[placeholder] == nil else {
                throw NoSQLError(.invalidCommand, "expression placeholder \(placeholder) appears twice")
            }
            result[placeholder] = try readValue(&self)
        }
        return result
    }

    fileprivate mutating func readItemWrite() throws -> ItemWrite {
        let action = try readUInt8()
        let table = try readString()
        let body: ItemWrite.Action
        switch action {
        case 1: body = .put(try readItem())
        case 2:
            let key = try readKey()
            body = .update(key: key, expression: try readString())
        case 3: body = .delete(key: try readKey())
        case 4: body = .conditionCheck(key: try readKey())
        default: throw NoSQLError(.invalidCommand, "unknown transaction action \(action)")
        }
        let condition = try readOptional { try $0.readString() }
        let names = try readPlaceholders { try $0.readString() }
        let values = try readPlaceholders { reader in try reader.readItem().value }
        let returnItem: Bool
        switch try readUInt8() {
        case 0: returnItem = false
        case 1: returnItem = true
        case let flag: throw NoSQLError(.invalidCommand, "invalid flag \(flag)")
        }
        return ItemWrite(
            table: table, action: body, condition: condition, attributes: ExpressionAttributes(names: names, values: values),
            returnItemOnConditionFailure: returnItem)
    }
}
