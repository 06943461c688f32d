import NoSQL
import StorageCore
import Testing

@Suite("Command encoding")
struct CommandCodecTests {
    static let commands: [NoSQLCommand] = [
        .createTable(TableSchema(name: "Music", partitionKey: "Artist", sortKey: "SongTitle")),
        .createTable(TableSchema(name: "Users", partitionKey: "id")),
        .deleteTable(name: "Music"),
        .putItem(table: "Music", item: ["Artist": "Queen", "Year": 1975, "Tags": ["rock", nil, true]], expectedVersion: nil),
        .putItem(table: "Music", item: ["Artist": "Queen", "SongTitle": "\0é😀\n"], expectedVersion: 0),
        .putItem(table: "Music", item: [:], expectedVersion: 42),
        .deleteItem(table: "Music", key: ItemKey("Queen", "Bohemian Rhapsody"), expectedVersion: nil),
        .deleteItem(table: "Users", key: ItemKey(partition: .number(JSONNumber("-1.25e-7")!)), expectedVersion: 7),
        .rollbackItem(table: "Music", key: ItemKey(partition: .number(JSONNumber(12)), sort: .string("")), expectedVersion: nil),
        .rollbackItem(table: "Music", key: ItemKey("a", "b"), expectedVersion: .max),
        .createTable(
            TableSchema(
                name: "Blobs", partitionKey: "id", sortKey: "at", partitionKeyType: .binary, sortKeyType: .number,
                billing: BillingSettings(mode: .provisioned, readCapacityUnits: 5, writeCapacityUnits: 7), creationTime: 1_700_000_000_123)),
        .deleteItem(table: "Blobs", key: ItemKey(partition: .binary([0, 255]), sort: .number(JSONNumber(3))), expectedVersion: nil),
        .putItem(
            table: "Music",
            item: Item([
                "Artist": "Queen", "Tags": AttributeValue.set(strings: ["rock", "opera"])!,
                "Bytes": .binary([0, 1, 255]), "Scores": AttributeValue.set(numbers: [JSONNumber(3), JSONNumber("-1.5")!])!,
                "Blobs": AttributeValue.set(binaries: [[1], [0, 9]])!, "Nested": ["a": [1, .null, .bool(false)]],
            ] as AttributeMap),
            expectedVersion: nil),
        .transactWrite([
            ItemWrite(table: "Music", action: .put(Item(["Artist": "A", "SongTitle": "B"] as AttributeMap)), condition: "attribute_not_exists(Artist)"),
            ItemWrite(
                table: "Music", action: .update(key: ItemKey("A", "C"), expression: "SET #n = #n + :one"),
                condition: "#n < :max", attributes: ExpressionAttributes(names: ["#n": "n"], values: [":one": 1, ":max": 10]),
                returnItemOnConditionFailure: true),
            ItemWrite(table: "Users", action: .delete(key: ItemKey(partition: .number(JSONNumber(7))))),
            ItemWrite(
                table: "Users", action: .conditionCheck(key: ItemKey("x")), condition: "attribute_exists(id)",
                attributes: ExpressionAttributes(values: [":unused": .null])),
        ]),
    ]

    @Test("encode then decode gives the same command", arguments: commands)
    func roundTrip(command: NoSQLCommand) throws {
        let bytes = command.encoded()
        #expect(try NoSQLCommand(decoding: bytes) == command)
        #expect(try NoSQLCommand(decoding: bytes).encoded() == bytes)
    }

    @Test("the encoding is deterministic: equal items encode to equal bytes")
    func deterministic() throws {
        let a = NoSQLCommand.putItem(table: "T01", item: try json(#"{"b":1.0,"a":[1e2]}"#), expectedVersion: nil)
        let b = NoSQLCommand.putItem(table: "T01", item: try json(#"{ "a" : [100], "b" : 1 }"#), expectedVersion: nil)
        #expect(a.encoded() == b.encoded())
    }

    @Test("every truncation and every trailing byte is invalid_command", arguments: commands)
    func truncated(command: NoSQLCommand) {
        let bytes = command.encoded()
        for length in 0..<bytes.count {
            expectError(.invalidCommand) { try NoSQLCommand(decoding: bytes.prefix(length)) }
        }
        expectError(.invalidCommand) { try NoSQLCommand(decoding: bytes + [0]) }
    }

    @Test("malformed fields are invalid_command")
    func malformed() {
        let put = NoSQLCommand.putItem(table: "Music", item: ["a": 1], expectedVersion: nil).encoded()
        #expect(put.first == 0x02)
        expectError(.invalidCommand) { try NoSQLCommand(decoding: [0x03] + put.dropFirst()) }  // format
        expectError(.invalidCommand) { try NoSQLCommand(decoding: [0x02, 0x09]) }  // opcode
        expectError(.invalidCommand) { try NoSQLCommand(decoding: [0x01, 0x06, 0, 0, 0, 0]) }  // transactions need format 2
        // Optional flag other than 0/1 (the byte after "Music").
        var badFlag = put
        badFlag[2 + 4 + 5] = 2
        expectError(.invalidCommand) { try NoSQLCommand(decoding: badFlag) }
        // An item whose map members are out of order is not canonical.
        var writer = BinaryWriter()
        writer.write(UInt8(2)); writer.write(UInt8(3))
        writer.write(lengthPrefixed: Array("Music".utf8)); writer.write(UInt8(0))
        let unsorted: [UInt8] = [0x0A, 0, 0, 0, 2, 0, 0, 0, 1, 0x62, 0x00, 0, 0, 0, 1, 0x61, 0x00]
        writer.write(lengthPrefixed: unsorted)
        expectError(.invalidCommand) { try NoSQLCommand(decoding: writer.bytes) }
        // An empty set is not an item value.
        writer = BinaryWriter()
        writer.write(UInt8(2)); writer.write(UInt8(3))
        writer.write(lengthPrefixed: Array("Music".utf8)); writer.write(UInt8(0))
        writer.write(lengthPrefixed: [0x0A, 0, 0, 0, 1, 0, 0, 0, 1, 0x61, 0x06, 0, 0, 0, 0] as [UInt8])
        expectError(.invalidCommand) { try NoSQLCommand(decoding: writer.bytes) }
        // Format 1: item JSON that is valid but not canonical.
        writer = BinaryWriter()
        writer.write(UInt8(1)); writer.write(UInt8(3))
        writer.write(lengthPrefixed: Array("Music".utf8)); writer.write(UInt8(0))
        writer.write(lengthPrefixed: Array(#"{ "a": 1 }"#.utf8))
        expectError(.invalidCommand) { try NoSQLCommand(decoding: writer.bytes) }
        // A table name that is not UTF-8.
        writer = BinaryWriter()
        writer.write(UInt8(2)); writer.write(UInt8(2))
        writer.write(lengthPrefixed: [0x4D, 0xFF, 0x75])
        expectError(.invalidCommand) { try NoSQLCommand(decoding: writer.bytes) }
        // A key number that is not canonical.
        writer = BinaryWriter()
        writer.write(UInt8(2)); writer.write(UInt8(4))
        writer.write(lengthPrefixed: Array("Users".utf8))
        writer.write(UInt8(2)); writer.write(lengthPrefixed: Array("1.0".utf8))
        writer.write(UInt8(0)); writer.write(UInt8(0))
        expectError(.invalidCommand) { try NoSQLCommand(decoding: writer.bytes) }
        // A length prefix far past the end.
        expectError(.invalidCommand) { try NoSQLCommand(decoding: [0x02, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0x41]) }
    }

    @Test("format 1 entries, written before DynamoDB types, still decode to the same commands")
    func formatOne() throws {
        // Bytes as the format 1 encoder wrote them.
        var writer = BinaryWriter()
        writer.write(UInt8(1)); writer.write(UInt8(1))
        writer.write(lengthPrefixed: Array("Music".utf8)); writer.write(lengthPrefixed: Array("Artist".utf8))
        writer.write(UInt8(1)); writer.write(lengthPrefixed: Array("SongTitle".utf8))
        #expect(try NoSQLCommand(decoding: writer.bytes) == .createTable(TableSchema(name: "Music", partitionKey: "Artist", sortKey: "SongTitle")))
        writer = BinaryWriter()
        writer.write(UInt8(1)); writer.write(UInt8(3))
        writer.write(lengthPrefixed: Array("Music".utf8)); writer.write(UInt8(1)); writer.write(UInt64(7))
        writer.write(lengthPrefixed: Array(#"{"Artist":"Queen","Year":1975,"x":[true,null]}"#.utf8))
        #expect(
            try NoSQLCommand(decoding: writer.bytes)
                == .putItem(table: "Music", item: ["Artist": "Queen", "Year": 1975, "x": [true, nil]], expectedVersion: 7))
        writer = BinaryWriter()
        writer.write(UInt8(1)); writer.write(UInt8(4))
        writer.write(lengthPrefixed: Array("Users".utf8))
        writer.write(UInt8(2)); writer.write(lengthPrefixed: Array("1.5".utf8)); writer.write(UInt8(0))
        writer.write(UInt8(1)); writer.write(UInt64(3))
        #expect(
            try NoSQLCommand(decoding: writer.bytes)
                == .deleteItem(table: "Users", key: ItemKey(partition: .number(JSONNumber("1.5")!)), expectedVersion: 3))
        // Binary keys did not exist in format 1.
        writer = BinaryWriter()
        writer.write(UInt8(1)); writer.write(UInt8(4))
        writer.write(lengthPrefixed: Array("Users".utf8))
        writer.write(UInt8(3)); writer.write(lengthPrefixed: [1, 2]); writer.write(UInt8(0)); writer.write(UInt8(0))
        expectError(.invalidCommand) { try NoSQLCommand(decoding: writer.bytes) }
    }

    @Test("random garbage decodes to a command or invalid_command, never a trap")
    func garbage() {
        var random = SplitMix64(seed: 99)
        let valid = Self.commands.map { $0.encoded() }
        for round in 0..<5_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int.random(in: 0...24, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                if bytes.count > 1 { bytes[0] = 1 }
            } else {
                // Valid encodings with a few bytes flipped.
                bytes = valid.randomElement(using: &random)!
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            }
            do {
                let command = try NoSQLCommand(decoding: bytes)
                #expect(command.encoded() == bytes)
            } catch {
                #expect(error.code == .invalidCommand, "\(error)")
            }
        }
    }
}

extension NoSQLCommand: CustomTestStringConvertible {
    public var testDescription: String { name }
}
