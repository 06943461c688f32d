import StorageCore

/// The byte form of a `CommandResult`, so that a result can travel from the
/// apply loop back to the client that proposed the command (the Raft
/// runtime hands results over as bytes and stays ignorant of their meaning).
/// Results never leave the process, so the form need not be stable across
/// versions; items are carried as their canonical bytes, not decoded.
///
///     tag (1) | fields; strings and items length-prefixed, integers big-endian
///
/// Tags: 0 failure (code, message, cancellation reasons), 1 table created,
/// 2 table deleted, 3 item put, 4 item deleted, 5 item rolled back,
/// 6 transaction written.
public enum CommandResultCoding {
    public struct Malformed: Error, Sendable, CustomStringConvertible {
        public let reason: String
        public var description: String { "cannot decode a command result: \(reason)" }
    }

    public static func encode(_ result: CommandResult) -> Bytes {
        var w = BinaryWriter()
        switch result {
        case .failure(let error):
            w.write(UInt8(0))
            w.write(string: error.code.rawValue)
            w.write(string: error.message)
            w.write(UInt32(error.cancellationReasons.count))
            for reason in error.cancellationReasons {
                w.write(string: reason.code.rawValue)
                w.write(optional: reason.message) { $0.write(string: $1) }
                w.write(optional: reason.item) { $0.write(lengthPrefixed: $1.bytes) }
            }
        case .success(.tableCreated(let table)):
            w.write(UInt8(1))
            w.write(table: table)
        case .success(.tableDeleted(let table, let items)):
            w.write(UInt8(2))
            w.write(table: table)
            w.write(UInt64(items))
        case .success(.itemPut(let table, let item)):
            w.write(UInt8(3))
            w.write(string: table)
            w.write(stored: item)
        case .success(.itemDeleted(let table, let key, let deleted)):
            w.write(UInt8(4))
            w.write(string: table)
            w.write(key: key)
            w.write(version: deleted)
        case .success(.itemRolledBack(let table, let item)):
            w.write(UInt8(5))
            w.write(string: table)
            w.write(stored: item)
        case .success(.transactionWritten(let outcomes)):
            w.write(UInt8(6))
            w.write(UInt32(outcomes.count))
            for outcome in outcomes {
                w.write(key: outcome.key)
                w.write(optional: outcome.old) { $0.write(version: $1) }
                w.write(optional: outcome.new) { $0.write(version: $1) }
            }
        }
        return w.bytes
    }

    public static func decode(_ bytes: Bytes) throws(Malformed) -> CommandResult {
        var r = BinaryReader(bytes)
        do {
            let result: CommandResult
            switch try r.readUInt8() {
            case 0:
                let code = try r.readString()
                let message = try r.readString()
                guard let known = NoSQLError.Code(rawValue: code) else { throw Malformed(reason: "unknown error code \(code)") }
                var reasons: [CancellationReason] = []
                for _ in 0..<(try r.readUInt32()) {
                    let reasonCode = try r.readString()
                    guard let knownReason = CancellationReason.Code(rawValue: reasonCode) else {
                        throw Malformed(reason: "unknown cancellation reason \(reasonCode)")
                    }
                    let reasonMessage = try r.readOptional { try $0.readString() }
                    let item = try r.readOptional { Item(uncheckedBytes: try $0.readLengthPrefixed()) }
                    reasons.append(CancellationReason(code: knownReason, message: reasonMessage, item: item))
                }
                result = .failure(NoSQLError(known, message, cancellationReasons: reasons))
            case 1:
                result = .success(.tableCreated(try r.readTable()))
            case 2:
                let table = try r.readTable()
                result = .success(.tableDeleted(table, itemsDeleted: Int(try r.readUInt64())))
            case 3:
                let table = try r.readString()
                result = .success(.itemPut(table: table, try r.readStored()))
            case 4:
                let table = try r.readString()
                let key = try r.readResultKey()
                result = .success(.itemDeleted(table: table, key: key, deleted: try r.readVersion()))
            case 5:
                let table = try r.readString()
                result = .success(.itemRolledBack(table: table, try r.readStored()))
            case 6:
                var outcomes: [ItemWriteOutcome] = []
                for _ in 0..<(try r.readUInt32()) {
                    let key = try r.readResultKey()
                    let old = try r.readOptional { try $0.readVersion() }
                    let new = try r.readOptional { try $0.readVersion() }
                    outcomes.append(ItemWriteOutcome(key: key, old: old, new: new))
                }
                result = .success(.transactionWritten(outcomes))
            case let tag:
                throw Malformed(reason: "unknown result tag \(tag)")
            }
            guard r.isAtEnd else { throw Malformed(reason: "trailing bytes") }
            return result
        } catch let error as Malformed {
            throw error
        } catch {
            throw Malformed(reason: "truncated or invalid result (\(error))")
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

    fileprivate mutating func write(table: TableInfo) {
        write(string: table.name)
        write(lengthPrefixed: RecordCoding.encode(table))
    }

    fileprivate mutating func write(version: ItemVersion) {
        write(version.version)
        write(lengthPrefixed: version.content.bytes)
    }

    fileprivate mutating func write(stored: StoredItem) {
        write(version: stored.current)
        write(optional: stored.previous) { $0.write(version: $1) }
    }

    fileprivate mutating func write(key: ItemKey) {
        write(value: key.partition)
        write(optional: key.sort) { $0.write(value: $1) }
    }

    private mutating func write(value: KeyAttributeValue) {
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
}

extension BinaryReader {
    fileprivate mutating func readTable() throws -> TableInfo {
        let name = try readString()
        return try RecordCoding.decodeTable(name: name, try readLengthPrefixed())
    }

    fileprivate mutating func readVersion() throws -> ItemVersion {
        let version = try readUInt64()
        return ItemVersion(version: version, content: Item(uncheckedBytes: try readLengthPrefixed()))
    }

    fileprivate mutating func readStored() throws -> StoredItem {
        let current = try readVersion()
        return StoredItem(current: current, previous: try readOptional { try $0.readVersion() })
    }

    fileprivate mutating func readResultKey() throws -> ItemKey {
        func value(_ reader: inout BinaryReader) throws -> KeyAttributeValue {
            switch try reader.readUInt8() {
            case 1: return .string(try reader.readString())
            case 2:
                guard let number = JSONNumber(try reader.readString()) else { throw CommandResultCoding.Malformed(reason: "bad number") }
                return .number(number)
            case 3: return .binary(try reader.readLengthPrefixed())
            case let tag: throw CommandResultCoding.Malformed(reason: "unknown key tag \(tag)")
            }
        }
        let partition = try value(&self)
        return ItemKey(partition: partition, sort: try readOptional { try value(&$0) })
    }
}
