import NoSQL
import StorageCore
import Testing

@Suite("Item validation and limits")
struct ItemValidationTests {
    func musicNode(limits: NoSQLLimits = .default) throws -> Node {
        var node = try Node(limits: limits)
        try node.expectSuccess(.createTable(TableSchema(name: "Music", partitionKey: "Artist", sortKey: "SongTitle")))
        return node
    }

    func song(padding: Int) -> JSONValue {
        ["Artist": "A", "SongTitle": "S", "Lyrics": .string(String(repeating: "x", count: padding))]
    }

    @Test("the item size limit counts DynamoDB's item size (names plus values), 400 KB by default")
    func defaultSizeLimit() throws {
        var node = try musicNode()
        let overhead = Item(json: song(padding: 0)).size
        #expect(overhead == "Artist".count + 1 + "SongTitle".count + 1 + "Lyrics".count)
        try node.expectSuccess(.putItem(table: "Music", item: song(padding: 400 * 1024 - overhead), expectedVersion: nil))
        let result = try node.apply(.putItem(table: "Music", item: song(padding: 400 * 1024 - overhead + 1), expectedVersion: nil))
        expectFailure(result, .itemTooLarge)
        if case .failure(let error) = result { #expect(error.httpStatus == 413) }
        expectError(.itemTooLarge) {
            try node.machine.prepare(.putItem(table: "Music", item: song(padding: 500_000), expectedVersion: nil))
        }
    }

    @Test("the item size limit is configurable")
    func configuredSizeLimit() throws {
        var node = try musicNode(limits: NoSQLLimits(maxItemBytes: 100))
        let overhead = Item(json: song(padding: 0)).size
        try node.expectSuccess(.putItem(table: "Music", item: song(padding: 100 - overhead), expectedVersion: nil))
        expectFailure(try node.apply(.putItem(table: "Music", item: song(padding: 101 - overhead), expectedVersion: nil)), .itemTooLarge)
        // Whitespace in the client's text does not count: the item's size does.
        let spaced = try JSONValue.parse("{ \"Artist\" : \"A\" ,\n\n\n \"SongTitle\" : \"S\"" + String(repeating: " ", count: 200) + "}")
        try node.expectSuccess(.putItem(table: "Music", item: spaced, expectedVersion: nil))
    }

    @Test(
        "items must be objects with string or number key attributes",
        arguments: [
            (#"[1]"#, NoSQLError.Code.invalidItem),
            (#""text""#, .invalidItem),
            (#"null"#, .invalidItem),
            (#"{"SongTitle":"S"}"#, .missingKeyAttribute),
            (#"{"Artist":"A"}"#, .missingKeyAttribute),
            (#"{"artist":"A","SongTitle":"S"}"#, .missingKeyAttribute),
            (#"{"Artist":true,"SongTitle":"S"}"#, .invalidKeyType),
            (#"{"Artist":null,"SongTitle":"S"}"#, .invalidKeyType),
            (#"{"Artist":"A","SongTitle":["S"]}"#, .invalidKeyType),
            (#"{"Artist":{"n":1},"SongTitle":"S"}"#, .invalidKeyType),
        ])
    func invalidItems(text: String, code: NoSQLError.Code) throws {
        var node = try musicNode()
        expectFailure(try node.apply(.putItem(table: "Music", item: try json(text), expectedVersion: nil)), code)
        #expect(try node.store.scan(prefix: [0x02]).isEmpty)
    }

    @Test("numbers and strings are valid keys; any JSON is a valid non-key attribute")
    func validItems() throws {
        var node = try musicNode()
        let item = try json(#"{"Artist":-12.50,"SongTitle":"","Nested":{"a":[1,{"b":null}],"t":true},"Big":123456789012345678901234567890}"#)
        try node.expectSuccess(.putItem(table: "Music", item: item, expectedVersion: nil))
        let stored = try node.get("Music", ItemKey(partition: .number(JSONNumber("-12.5")!), sort: .string("")))
        #expect(stored.item == item)
        #expect(stored.item["Big"]?.canonicalText == "1.2345678901234567890123456789e+29")
    }

    @Test("key values have size limits, and nesting is limited")
    func keyAndDepthLimits() throws {
        var node = try musicNode()
        let longPartition = String(repeating: "p", count: 2049)
        expectFailure(
            try node.apply(.putItem(table: "Music", item: ["Artist": .string(longPartition), "SongTitle": "S"], expectedVersion: nil)),
            .keyTooLarge)
        expectFailure(
            try node.apply(.putItem(table: "Music", item: ["Artist": "A", "SongTitle": .string(String(repeating: "s", count: 1025))], expectedVersion: nil)),
            .keyTooLarge)
        try node.expectSuccess(
            .putItem(table: "Music", item: ["Artist": .string(String(repeating: "p", count: 2048)), "SongTitle": .string(String(repeating: "s", count: 1024))], expectedVersion: nil))
        expectError(.keyTooLarge) { try node.get("Music", ItemKey(longPartition, "S")) }
        expectError(.keyTooLarge) {
            try node.machine.query(ItemQuery(table: "Music", partitionKey: .string(longPartition)), in: node.store)
        }

        var deep: JSONValue = 1
        for _ in 0..<32 { deep = [deep] }
        let ok: JSONValue = ["Artist": "A", "SongTitle": "S", "d": deep]  // depth 33 with the item itself
        expectFailure(try node.apply(.putItem(table: "Music", item: ok, expectedVersion: nil)), .invalidItem)
        try node.expectSuccess(.putItem(table: "Music", item: ["Artist": "A", "SongTitle": "S", "d": deep.arrayValue![0]], expectedVersion: nil))
        // A command entry carrying a deeper item is decoded, then refused as invalid_item, the same on every node.
        let entry = NoSQLCommand.putItem(table: "Music", item: ok, expectedVersion: nil).encoded()
        var pending = PendingWrites(store: node.store)
        expectFailure(try node.machine.apply(entry: entry, at: 10_000, to: &pending), .invalidItem)
    }

    @Test("a configured nesting limit never goes past the supported ceiling, so every stored item reads back")
    func depthCeiling() throws {
        var node = try musicNode(limits: NoSQLLimits(maxNestingDepth: 10_000))
        /// An item nesting `depth` levels, counting the item object itself.
        func nested(_ depth: Int) -> JSONValue {
            var value: JSONValue = 1
            for _ in 0..<depth - 1 { value = [value] }
            return ["Artist": "A", "SongTitle": .string("depth \(depth)"), "d": value]
        }
        let ceiling = NoSQLLimits.maxSupportedNestingDepth
        try node.expectSuccess(.putItem(table: "Music", item: nested(ceiling), expectedVersion: nil))
        #expect(try node.get("Music", ItemKey("A", "depth \(ceiling)")).item.nestingDepth == ceiling)
        expectFailure(try node.apply(.putItem(table: "Music", item: nested(ceiling + 1), expectedVersion: nil)), .invalidItem)
        // A log entry nesting deeper than the ceiling is refused by the decoder.
        let entry = NoSQLCommand.putItem(table: "Music", item: nested(ceiling + 5), expectedVersion: nil).encoded()
        expectError(.invalidCommand) { try NoSQLCommand(decoding: entry) }
    }

    @Test("key shape must match the table: a sort key when it has one, none when it has not")
    func keyShape() throws {
        var node = try musicNode()
        try node.expectSuccess(.createTable(TableSchema(name: "Users", partitionKey: "id")))
        expectFailure(try node.apply(.deleteItem(table: "Music", key: ItemKey("A"), expectedVersion: nil)), .missingKeyAttribute)
        expectFailure(try node.apply(.deleteItem(table: "Users", key: ItemKey("A", "B"), expectedVersion: nil)), .invalidArgument)
        expectError(.missingKeyAttribute) { try node.get("Music", ItemKey("A")) }
        expectError(.invalidArgument) { try node.get("Users", ItemKey("A", "B")) }
        try node.expectSuccess(.putItem(table: "Users", item: ["id": 7, "name": "x"], expectedVersion: nil))
        #expect(try node.get("Users", ItemKey(partition: .number(JSONNumber(7)))).item["name"] == "x")
    }

    @Test("every error code has a stable name and an HTTP status")
    func codes() {
        let expected: [NoSQLError.Code: (String, Int)] = [
            .invalidJSON: ("invalid_json", 400), .invalidItem: ("invalid_item", 400),
            .missingKeyAttribute: ("missing_key_attribute", 400), .invalidKeyType: ("invalid_key_type", 400),
            .keyTooLarge: ("key_too_large", 400), .tableNotFound: ("table_not_found", 404),
            .tableExists: ("table_exists", 409), .itemTooLarge: ("item_too_large", 413),
            .versionConflict: ("version_conflict", 409), .itemNotFound: ("item_not_found", 404),
            .noPreviousVersion: ("no_previous_version", 409), .staleWrite: ("stale_write", 409),
            .invalidArgument: ("invalid_argument", 400), .invalidCommand: ("invalid_command", 400),
            .invalidExpression: ("invalid_expression", 400), .invalidUpdate: ("invalid_update", 400),
            .conditionalCheckFailed: ("conditional_check_failed", 409), .transactionCanceled: ("transaction_canceled", 409),
            .idempotencyKeyMismatch: ("idempotency_key_mismatch", 409), .idempotencyKeyExpired: ("idempotency_key_expired", 409),
        ]
        #expect(Set(expected.keys) == Set(NoSQLError.Code.allCases))
        for (code, (name, status)) in expected {
            #expect(code.rawValue == name)
            #expect(code.httpStatus == status)
        }
    }
}
