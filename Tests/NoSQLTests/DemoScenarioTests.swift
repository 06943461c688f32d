import NoSQL
import StorageCore
import Testing

/// The original Go simulator's README demo, at the library level.
@Suite("Demo scenario")
struct DemoScenarioTests {
    @Test("create Music, put two items, get, query, delete an item, delete the table with its items")
    func demo() throws {
        var node = try Node()
        let schema = TableSchema(name: "Music", partitionKey: "Artist", sortKey: "SongTitle")
        try node.expectSuccess(.createTable(schema))
        #expect(try node.machine.listTables(in: node.store).map(\.schema) == [schema])
        #expect(try node.machine.describeTable("Music", in: node.store) == TableInfo(schema: schema, createdAt: 1))

        let item1 = try json(#"{"Artist":"The Beatles","SongTitle":"Let It Be","Album":"Let It Be","Year":1970}"#)
        let item2 = try json(#"{"Artist":"Queen","SongTitle":"Bohemian Rhapsody","Album":"A Night at the Opera","Year":1975}"#)
        let item3 = try json(#"{"Artist":"The Beatles","SongTitle":"Hey Jude","Year":1968}"#)
        try node.expectSuccess(.putItem(table: "Music", item: item1, expectedVersion: nil))
        try node.expectSuccess(.putItem(table: "Music", item: item2, expectedVersion: nil))
        try node.expectSuccess(.putItem(table: "Music", item: item3, expectedVersion: nil))

        let letItBe = try node.get("Music", ItemKey("The Beatles", "Let It Be"))
        #expect(letItBe.item == item1)
        #expect(letItBe.version == 2)
        #expect(letItBe.previous == nil)
        #expect(letItBe.item.canonicalText == #"{"Album":"Let It Be","Artist":"The Beatles","SongTitle":"Let It Be","Year":1970}"#)
        #expect(try node.get("Music", ItemKey("Queen", "Bohemian Rhapsody")).item == item2)

        // Query by partition key: sort key order.
        let beatles = try node.machine.query(ItemQuery(table: "Music", partitionKey: .string("The Beatles")), in: node.store)
        #expect(beatles.items.map(\.item) == [item3, item1])
        #expect(beatles.continuationToken == nil)
        // Query by sort key prefix.
        let hey = try node.machine.query(
            ItemQuery(table: "Music", partitionKey: .string("The Beatles"), sortKeyPrefix: "Hey"), in: node.store)
        #expect(hey.items.map(\.item) == [item3])
        let none = try node.machine.query(
            ItemQuery(table: "Music", partitionKey: .string("The Beatles"), sortKeyPrefix: "Bohemian"), in: node.store)
        #expect(none.items.isEmpty)
        #expect(try node.machine.query(ItemQuery(table: "Music", partitionKey: .string("ABBA")), in: node.store).items.isEmpty)

        // Delete an item.
        let deleted = try node.expectSuccess(.deleteItem(table: "Music", key: ItemKey("The Beatles", "Let It Be"), expectedVersion: nil))
        #expect(deleted == .itemDeleted(table: "Music", key: ItemKey("The Beatles", "Let It Be"), deleted: ItemVersion(version: 2, item: item1)))
        expectError(.itemNotFound) { try node.get("Music", ItemKey("The Beatles", "Let It Be")) }
        expectFailure(try node.apply(.deleteItem(table: "Music", key: ItemKey("The Beatles", "Let It Be"), expectedVersion: nil)), .itemNotFound)

        // Delete the table: its items go too, and a new table of the same name starts empty.
        let dropped = try node.expectSuccess(.deleteTable(name: "Music"))
        #expect(dropped == .tableDeleted(TableInfo(schema: schema, createdAt: 1), itemsDeleted: 2))
        expectError(.tableNotFound) { try node.get("Music", ItemKey("Queen", "Bohemian Rhapsody")) }
        #expect(try node.machine.listTables(in: node.store).isEmpty)
        try node.expectSuccess(.createTable(schema))
        #expect(try node.machine.query(ItemQuery(table: "Music", partitionKey: .string("Queen")), in: node.store).items.isEmpty)
        try node.expectSuccess(.deleteTable(name: "Music"))
        // Only the NoSQL bookkeeping key remains.
        #expect(try node.store.scan(.all).map(\.key) == [[0x00, 0x01]])
    }

    @Test("table errors: exists, not found, invalid names and schemas")
    func tableErrors() throws {
        var node = try Node()
        try node.expectSuccess(.createTable(TableSchema(name: "Music", partitionKey: "Artist")))
        expectFailure(try node.apply(.createTable(TableSchema(name: "Music", partitionKey: "Other"))), .tableExists)
        expectFailure(try node.apply(.deleteTable(name: "Movies")), .tableNotFound)
        expectFailure(try node.apply(.putItem(table: "Movies", item: ["Artist": "x"], expectedVersion: nil)), .tableNotFound)
        expectFailure(try node.apply(.createTable(TableSchema(name: "ab", partitionKey: "k"))), .invalidArgument)
        expectFailure(try node.apply(.createTable(TableSchema(name: "a b c", partitionKey: "k"))), .invalidArgument)
        expectFailure(try node.apply(.createTable(TableSchema(name: "Tbl", partitionKey: ""))), .invalidArgument)
        expectFailure(try node.apply(.createTable(TableSchema(name: "Tbl", partitionKey: "k", sortKey: "k"))), .invalidArgument)
        expectError(.tableNotFound) { try node.machine.describeTable("Movies", in: node.store) }
        expectError(.invalidArgument) { try node.machine.describeTable("日本語テーブル", in: node.store) }
        #expect(try node.machine.listTables(in: node.store).map(\.name) == ["Music"])
    }

    @Test("prepare validates before proposing, with or without the local state")
    func prepare() throws {
        var node = try Node()
        let machine = node.machine
        try node.expectSuccess(.createTable(TableSchema(name: "Music", partitionKey: "Artist", sortKey: "SongTitle")))
        let good = NoSQLCommand.putItem(table: "Music", item: ["Artist": "Queen", "SongTitle": "x"], expectedVersion: nil)
        #expect(try NoSQLCommand(decoding: try machine.prepare(good, checkingAgainst: node.store)) == good)
        // Stateless problems are caught without a store.
        expectError(.invalidItem) { try machine.prepare(.putItem(table: "Music", item: [1], expectedVersion: nil)) }
        expectError(.invalidArgument) {
            try machine.prepare(.deleteItem(table: "Music", key: ItemKey("a", "b"), expectedVersion: 0))
        }
        // Schema problems need the store.
        let missingSort = NoSQLCommand.putItem(table: "Music", item: ["Artist": "Queen"], expectedVersion: nil)
        #expect(try machine.prepare(missingSort).isEmpty == false)
        expectError(.missingKeyAttribute) { try machine.prepare(missingSort, checkingAgainst: node.store) }
        expectError(.invalidKeyType) {
            try machine.prepare(
                .putItem(table: "Music", item: ["Artist": true, "SongTitle": "x"], expectedVersion: nil), checkingAgainst: node.store)
        }
        expectError(.tableNotFound) { try machine.prepare(.deleteTable(name: "Nope"), checkingAgainst: node.store) }
        expectError(.tableExists) {
            try machine.prepare(.createTable(TableSchema(name: "Music", partitionKey: "A")), checkingAgainst: node.store)
        }
        // And apply still decides: the same bad command is a failure result.
        expectFailure(try node.apply(missingSort), .missingKeyAttribute)
    }
}
