import NoSQL
import StorageCore
import Testing

@Suite("Query pagination")
struct PaginationTests {
    /// A table with 25 songs for one artist ("Song 00"..."Song 24") and one for another.
    func filledNode() throws -> Node {
        var node = try Node()
        try node.expectSuccess(.createTable(TableSchema(name: "Music", partitionKey: "Artist", sortKey: "SongTitle")))
        for n in (0..<25).reversed() {
            let title = "Song " + (n < 10 ? "0\(n)" : "\(n)")
            try node.expectSuccess(.putItem(table: "Music", item: ["Artist": "Journey", "SongTitle": .string(title)], expectedVersion: nil))
        }
        try node.expectSuccess(.putItem(table: "Music", item: ["Artist": "Journeys", "SongTitle": "Song 00"], expectedVersion: nil))
        return node
    }

    func titles(_ page: QueryPage) -> [String] {
        page.items.compactMap { $0.item["SongTitle"]?.stringValue }
    }

    @Test("limit and continuation token walk the partition in order, and the last page has no token")
    func pages() throws {
        let node = try filledNode()
        var query = ItemQuery(table: "Music", partitionKey: .string("Journey"), limit: 10)
        var seen: [String] = []
        var pageSizes: [Int] = []
        while true {
            let page = try node.machine.query(query, in: node.store)
            seen += titles(page)
            pageSizes.append(page.items.count)
            guard let token = page.continuationToken else { break }
            query.continuationToken = token
        }
        #expect(pageSizes == [10, 10, 5])
        #expect(seen == (0..<25).map { "Song " + ($0 < 10 ? "0\($0)" : "\($0)") })

        // A page that ends exactly at the end carries no token.
        let exact = try node.machine.query(ItemQuery(table: "Music", partitionKey: .string("Journey"), limit: 25), in: node.store)
        #expect(exact.items.count == 25)
        #expect(exact.continuationToken == nil)
    }

    @Test("pagination with a sort key prefix stays inside the prefix")
    func prefixPages() throws {
        let node = try filledNode()
        var query = ItemQuery(table: "Music", partitionKey: .string("Journey"), sortKeyPrefix: "Song 1", limit: 4)
        let first = try node.machine.query(query, in: node.store)
        #expect(titles(first) == ["Song 10", "Song 11", "Song 12", "Song 13"])
        query.continuationToken = first.continuationToken
        let second = try node.machine.query(query, in: node.store)
        #expect(titles(second) == ["Song 14", "Song 15", "Song 16", "Song 17"])
        query.continuationToken = second.continuationToken
        let third = try node.machine.query(query, in: node.store)
        #expect(titles(third) == ["Song 18", "Song 19"])
        #expect(third.continuationToken == nil)
    }

    @Test("a token resumes after its key even when items change between pages")
    func stableUnderWrites() throws {
        var node = try filledNode()
        let first = try node.machine.query(ItemQuery(table: "Music", partitionKey: .string("Journey"), limit: 3), in: node.store)
        #expect(titles(first) == ["Song 00", "Song 01", "Song 02"])
        try node.expectSuccess(.deleteItem(table: "Music", key: ItemKey("Journey", "Song 02"), expectedVersion: nil))
        try node.expectSuccess(.deleteItem(table: "Music", key: ItemKey("Journey", "Song 03"), expectedVersion: nil))
        try node.expectSuccess(.putItem(table: "Music", item: ["Artist": "Journey", "SongTitle": "Song 00a"], expectedVersion: nil))
        let next = try node.machine.query(
            ItemQuery(table: "Music", partitionKey: .string("Journey"), limit: 3, continuationToken: first.continuationToken), in: node.store)
        #expect(titles(next) == ["Song 04", "Song 05", "Song 06"])
    }

    @Test("number sort keys come back in numeric order, before string sort keys")
    func numericOrder() throws {
        var node = try Node()
        try node.expectSuccess(.createTable(TableSchema(name: "Events", partitionKey: "Stream", sortKey: "Seq")))
        for seq in ["10", "-2.5", "9", "100", "0", "1e3", "0.5", "\"a\""] {
            try node.expectSuccess(.putItem(table: "Events", item: try json(#"{"Stream":"s","Seq":\#(seq)}"#), expectedVersion: nil))
        }
        let page = try node.machine.query(ItemQuery(table: "Events", partitionKey: .string("s")), in: node.store)
        #expect(page.items.map { $0.item["Seq"]!.canonicalText } == ["-2.5", "0", "0.5", "9", "10", "100", "1000", "\"a\""])
        // 1 and 1.0 are the same key.
        try node.expectSuccess(.putItem(table: "Events", item: try json(#"{"Stream":"s","Seq":1e1,"v":2}"#), expectedVersion: nil))
        let ten = try node.machine.getItem(table: "Events", key: ItemKey(partition: .string("s"), sort: .number(JSONNumber(10))), in: node.store)
        #expect(ten.item["v"] == 2)
        #expect(ten.previous != nil)
    }

    @Test("bad tokens, limits and prefixes are invalid_argument")
    func badArguments() throws {
        let node = try filledNode()
        let base = ItemQuery(table: "Music", partitionKey: .string("Journey"), limit: 5)
        let token = try node.machine.query(base, in: node.store).continuationToken!
        for bad in ["", "!!!!", "AAAA=", token + "=", "A", String(token.dropFirst()), "AQ"] {
            var query = base
            query.continuationToken = bad
            expectError(.invalidArgument) { try node.machine.query(query, in: node.store) }
        }
        // A token from one partition does not fit another.
        var other = ItemQuery(table: "Music", partitionKey: .string("Journeys"), limit: 5)
        other.continuationToken = token
        expectError(.invalidArgument) { try node.machine.query(other, in: node.store) }
        // Nor a query with a prefix its key is outside of.
        var prefixed = base
        prefixed.sortKeyPrefix = "Song 2"
        prefixed.continuationToken = token
        expectError(.invalidArgument) { try node.machine.query(prefixed, in: node.store) }

        for limit in [0, -1, 1001, Int.max] {
            var query = base
            query.limit = limit
            expectError(.invalidArgument) { try node.machine.query(query, in: node.store) }
        }
        expectError(.tableNotFound) {
            try node.machine.query(ItemQuery(table: "Nope", partitionKey: .string("x")), in: node.store)
        }
        var noSortKey = try Node()
        try noSortKey.expectSuccess(.createTable(TableSchema(name: "Users", partitionKey: "id")))
        expectError(.invalidArgument) {
            try noSortKey.machine.query(ItemQuery(table: "Users", partitionKey: .string("u"), sortKeyPrefix: "x"), in: noSortKey.store)
        }
        // An empty prefix means no prefix.
        #expect(try noSortKey.machine.query(ItemQuery(table: "Users", partitionKey: .string("u"), sortKeyPrefix: ""), in: noSortKey.store).items.isEmpty)
    }
}
