import NoSQL
import StorageCore
import Testing

@Suite("Transactions, typed tables, statistics and range reads")
struct TransactionTests {
    static let music = TableSchema(
        name: "Music", partitionKey: "Artist", sortKey: "SongTitle", partitionKeyType: .string, sortKeyType: .string,
        billing: BillingSettings(mode: .payPerRequest), creationTime: 1_700_000_000_000)

    func musicNode() throws -> Node {
        var node = try Node()
        try node.expectSuccess(.createTable(Self.music))
        return node
    }

    static func song(_ artist: String, _ title: String, _ extra: AttributeMap = [:]) -> Item {
        var map = extra
        map["Artist"] = .string(artist)
        map["SongTitle"] = .string(title)
        return Item(map)
    }

    func written(_ result: CommandResult, sourceLocation: SourceLocation = #_sourceLocation) -> [ItemWriteOutcome] {
        guard case .success(.transactionWritten(let outcomes)) = result else {
            Issue.record("expected a written transaction, got \(result)", sourceLocation: sourceLocation)
            return []
        }
        return outcomes
    }

    @Test("a transaction applies all its writes, or none of them, with a reason per write")
    func atomicity() throws {
        var node = try musicNode()
        let seed = try node.apply(.transactWrite([
            ItemWrite(table: "Music", action: .put(Self.song("Queen", "A", ["n": 1]))),
            ItemWrite(table: "Music", action: .put(Self.song("Queen", "B", ["n": 2]))),
        ]))
        #expect(written(seed).count == 2)

        let state = try node.store.scan(.all)
        let result = try node.apply(.transactWrite([
            ItemWrite(table: "Music", action: .put(Self.song("Queen", "C"))),
            ItemWrite(table: "Music", action: .delete(key: ItemKey("Queen", "A"))),
            ItemWrite(
                table: "Music", action: .update(key: ItemKey("Queen", "B"), expression: "SET n = n + :one"),
                condition: "n = :one", attributes: ExpressionAttributes(values: [":one": 1]),
                returnItemOnConditionFailure: true),
        ]))
        guard case .failure(let error) = result else { Issue.record("expected a cancellation"); return }
        #expect(error.code == .transactionCanceled)
        #expect(error.cancellationReasons.map(\.code) == [.none, .none, .conditionalCheckFailed])
        #expect(error.cancellationReasons[2].item == Self.song("Queen", "B", ["n": 2]))
        #expect(error.message.hasSuffix("[None, None, ConditionalCheckFailed]"))
        // Nothing changed but the last-applied stamp.
        let after = try node.store.scan(.all)
        #expect(after.filter { $0.key.first != 0x00 } == state.filter { $0.key.first != 0x00 })

        // An update that cannot apply cancels too, as a ValidationError.
        let invalid = try node.apply(.transactWrite([
            ItemWrite(table: "Music", action: .put(Self.song("Queen", "D"))),
            ItemWrite(table: "Music", action: .update(key: ItemKey("Queen", "A"), expression: "SET n = SongTitle + :one"),
                      attributes: ExpressionAttributes(values: [":one": 1])),
        ]))
        guard case .failure(let validation) = invalid else { Issue.record("expected a cancellation"); return }
        #expect(validation.cancellationReasons.map(\.code) == [.none, .validationError])
        #expect(validation.cancellationReasons[1].message == "An operand in the update expression has an incorrect data type")
        #expect(try node.machine.findItem(table: "Music", key: ItemKey("Queen", "D"), in: node.store) == nil)
    }

    @Test("outcomes carry the old and new items; updates create missing items; deletes of missing items succeed")
    func outcomes() throws {
        var node = try musicNode()
        try node.expectSuccess(.transactWrite([ItemWrite(table: "Music", action: .put(Self.song("A", "1", ["n": 1])))]))
        let outcomes = written(try node.apply(.transactWrite([
            ItemWrite(table: "Music", action: .update(key: ItemKey("A", "1"), expression: "SET n = n + :one"),
                      attributes: ExpressionAttributes(values: [":one": 1])),
            ItemWrite(table: "Music", action: .update(key: ItemKey("A", "2"), expression: "SET m = :one"),
                      attributes: ExpressionAttributes(values: [":one": 1])),
            ItemWrite(table: "Music", action: .delete(key: ItemKey("A", "9"))),
            ItemWrite(table: "Music", action: .conditionCheck(key: ItemKey("A", "8")), condition: "attribute_not_exists(Artist)"),
        ])))
        #expect(outcomes.count == 4)
        #expect(outcomes[0].old?.content == Self.song("A", "1", ["n": 1]))
        #expect(outcomes[0].new?.content == Self.song("A", "1", ["n": 2]))
        #expect(outcomes[1].old == nil && outcomes[1].new?.content == Self.song("A", "2", ["m": 1]))
        #expect(outcomes[2].old == nil && outcomes[2].new == nil)
        #expect(outcomes[3].new == nil)
        // The updated item keeps its previous version, like a put.
        let stored = try node.get("Music", ItemKey("A", "1"))
        #expect(stored.previous?.content == Self.song("A", "1", ["n": 1]))
        #expect(stored.version == node.nextIndex - 1)
        // Without an expression, an update only makes sure the item exists.
        try node.expectSuccess(.transactWrite([ItemWrite(table: "Music", action: .update(key: ItemKey("B", "1"), expression: ""))]))
        #expect(try node.get("Music", ItemKey("B", "1")).content == Self.song("B", "1"))
    }

    @Test("whole-transaction errors: a missing table, a bad key, one item twice, a bad expression")
    func wholeTransactionErrors() throws {
        var node = try musicNode()
        expectFailure(try node.apply(.transactWrite([ItemWrite(table: "Nope", action: .delete(key: ItemKey("a", "b")))])), .tableNotFound)
        expectFailure(
            try node.apply(.transactWrite([ItemWrite(table: "Music", action: .delete(key: ItemKey(partition: .number(JSONNumber(1)), sort: .string("x"))))])),
            .invalidKeyType)
        expectFailure(
            try node.apply(.transactWrite([
                ItemWrite(table: "Music", action: .put(Self.song("a", "b"))),
                ItemWrite(table: "Music", action: .delete(key: ItemKey("a", "b"))),
            ])), .invalidArgument)
        expectFailure(
            try node.apply(.transactWrite([ItemWrite(table: "Music", action: .put(Self.song("a", "b")), condition: "Artist = = :x")])),
            .invalidExpression)
        expectFailure(try node.apply(.transactWrite([])), .invalidArgument)
        expectFailure(
            try node.apply(.transactWrite([ItemWrite(table: "Music", action: .conditionCheck(key: ItemKey("a", "b")))])), .invalidArgument)
        expectError(.invalidExpression) {
            try node.machine.prepare(.transactWrite([
                ItemWrite(table: "Music", action: .put(Self.song("a", "b")), attributes: ExpressionAttributes(values: [":x": 1]))
            ]))
        }
    }

    @Test("typed tables take only their declared key types, and no empty string keys")
    func typedKeys() throws {
        var node = try musicNode()
        expectFailure(try node.apply(.putItem(table: "Music", item: ["Artist": 1, "SongTitle": "x"], expectedVersion: nil)), .invalidKeyType)
        expectFailure(try node.apply(.putItem(table: "Music", item: ["Artist": "", "SongTitle": "x"], expectedVersion: nil)), .invalidKeyType)
        try node.expectSuccess(.createTable(TableSchema(name: "Blobs", partitionKey: "id", partitionKeyType: .binary)))
        try node.expectSuccess(.transactWrite([ItemWrite(table: "Blobs", action: .put(Item(["id": .binary([0, 1])] as AttributeMap)))]))
        #expect(try node.machine.findItem(table: "Blobs", key: ItemKey(partition: .binary([0, 1])), in: node.store) != nil)
        // Untyped (native) tables take strings and numbers, not binary.
        try node.expectSuccess(.createTable(TableSchema(name: "Users", partitionKey: "id")))
        expectFailure(
            try node.apply(.transactWrite([ItemWrite(table: "Users", action: .put(Item(["id": .binary([1])] as AttributeMap)))])),
            .invalidKeyType)
        // The declared types survive the store.
        let info = try node.machine.describeTable("Music", in: node.store)
        #expect(info.schema == Self.music)
    }

    @Test("statistics count items and their sizes through every kind of write")
    func statistics() throws {
        var node = try musicNode()
        func stats() throws -> TableStatistics { try node.machine.tableStatistics("Music", in: node.store) }
        #expect(try stats() == TableStatistics())
        let a = Self.song("A", "1", ["n": 1])
        try node.expectSuccess(.putItem(table: "Music", item: a, expectedVersion: nil))
        try node.expectSuccess(.transactWrite([ItemWrite(table: "Music", action: .put(Self.song("A", "2")))]))
        #expect(try stats() == TableStatistics(itemCount: 2, sizeBytes: UInt64(a.size + Self.song("A", "2").size)))
        let bigger = Self.song("A", "1", ["n": 1, "text": "hello"])
        try node.expectSuccess(.putItem(table: "Music", item: bigger, expectedVersion: nil))
        #expect(try stats().itemCount == 2)
        #expect(try stats().sizeBytes == UInt64(bigger.size + Self.song("A", "2").size))
        try node.expectSuccess(.rollbackItem(table: "Music", key: ItemKey("A", "1"), expectedVersion: nil))
        #expect(try stats().sizeBytes == UInt64(a.size + Self.song("A", "2").size))
        try node.expectSuccess(.deleteItem(table: "Music", key: ItemKey("A", "1"), expectedVersion: nil))
        try node.expectSuccess(.transactWrite([ItemWrite(table: "Music", action: .delete(key: ItemKey("A", "2")))]))
        #expect(try stats() == TableStatistics())
    }

    @Test("range reads: sort key conditions, both directions, limits and resumption, segments")
    func rangeReads() throws {
        var node = try Node()
        try node.expectSuccess(.createTable(TableSchema(
            name: "Events", partitionKey: "Stream", sortKey: "Seq", partitionKeyType: .string, sortKeyType: .number)))
        var writes: [ItemWrite] = []
        for stream in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"] {
            for seq in [-5, 0, 1, 2, 10, 11, 100] {
                writes.append(ItemWrite(table: "Events", action: .put(Item(["Stream": .string(stream), "Seq": .number(JSONNumber(seq))] as AttributeMap))))
            }
        }
        try node.expectSuccess(.transactWrite(writes))

        func seqs(_ condition: SortKeyCondition?, forward: Bool = true, limit: Int? = nil, after: Int? = nil) throws -> ([Int], Int?) {
            let read = ItemRangeRead(
                table: "Events", scope: .partition(.string("b"), condition), forward: forward,
                exclusiveStartKey: after.map { ItemKey(partition: .string("b"), sort: .number(JSONNumber($0))) }, limit: limit)
            let page = try node.machine.readItems(read, in: node.store)
            let values = page.items.map { Int($0.content["Seq"]!.numberValue!.int64Value!) }
            var last: Int?
            if case .number(let n)? = page.lastEvaluatedKey?.sort { last = Int(n.int64Value!) }
            return (values, last)
        }
        func n(_ value: Int) -> KeyAttributeValue { .number(JSONNumber(value)) }
        #expect(try seqs(nil).0 == [-5, 0, 1, 2, 10, 11, 100])
        #expect(try seqs(.compare(.equal, n(10))).0 == [10])
        #expect(try seqs(.compare(.less, n(2))).0 == [-5, 0, 1])
        #expect(try seqs(.compare(.lessOrEqual, n(2))).0 == [-5, 0, 1, 2])
        #expect(try seqs(.compare(.greater, n(10))).0 == [11, 100])
        #expect(try seqs(.compare(.greaterOrEqual, n(10))).0 == [10, 11, 100])
        #expect(try seqs(.between(n(0), n(10))).0 == [0, 1, 2, 10])
        #expect(try seqs(nil, forward: false).0 == [100, 11, 10, 2, 1, 0, -5])
        #expect(try seqs(.compare(.less, n(10)), forward: false).0 == [2, 1, 0, -5])
        // Pages: a last evaluated key while more may follow, none on the last page.
        #expect(try seqs(nil, limit: 3) == ([-5, 0, 1], 1))
        #expect(try seqs(nil, limit: 3, after: 1) == ([2, 10, 11], 11))
        #expect(try seqs(nil, limit: 3, after: 11) == ([100], nil))
        #expect(try seqs(nil, limit: 7) == ([-5, 0, 1, 2, 10, 11, 100], nil))
        #expect(try seqs(nil, forward: false, limit: 3) == ([100, 11, 10], 10))
        #expect(try seqs(nil, forward: false, limit: 3, after: 10) == ([2, 1, 0], 0))
        #expect(try seqs(nil, forward: false, limit: 3, after: 0) == ([-5], nil))

        // Segments split a table into disjoint parts that cover it.
        var seen: [Bytes] = []
        for index in 0..<3 {
            let before = seen.count
            var start: ItemKey?
            repeat {
                let page = try node.machine.readItems(
                    ItemRangeRead(table: "Events", scope: .table, exclusiveStartKey: start, limit: 4, segment: .init(index: index, count: 3)),
                    in: node.store)
                seen += page.items.map(\.content.bytes)
                start = page.lastEvaluatedKey
            } while start != nil
            #expect(seen.count > before, "segment \(index) of 3 is empty: the hash spreads keys badly")
        }
        #expect(seen.count == 70 && Set(seen).count == 70)
        // Items of other segments count against the byte budget: with a budget
        // of one byte every page reads one item (most pages of a segment come
        // back empty), and paging still covers each segment exactly.
        var tiny: [Bytes] = []
        var pages = 0
        for index in 0..<3 {
            var start: ItemKey?
            repeat {
                let page = try node.machine.readItems(
                    ItemRangeRead(table: "Events", scope: .table, exclusiveStartKey: start, maxBytes: 1, segment: .init(index: index, count: 3)),
                    in: node.store)
                tiny += page.items.map(\.content.bytes)
                pages += 1
                start = page.lastEvaluatedKey
            } while start != nil
        }
        #expect(tiny.count == 70 && Set(tiny) == Set(seen))
        #expect(pages == 3 * 70)
        // A byte budget ends a page early, the item that reaches it included.
        let small = try node.machine.readItems(ItemRangeRead(table: "Events", scope: .table, maxBytes: 1), in: node.store)
        #expect(small.items.count == 1 && small.lastEvaluatedKey != nil)
        let smallBackward = try node.machine.readItems(
            ItemRangeRead(table: "Events", scope: .partition(.string("a"), nil), forward: false, maxBytes: 1), in: node.store)
        #expect(smallBackward.items.count == 1 && smallBackward.items[0].content["Seq"] == 100 && smallBackward.lastEvaluatedKey != nil)
    }
}
