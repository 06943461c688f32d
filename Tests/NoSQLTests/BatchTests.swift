import NoSQL
import StorageCore
import Testing

@Suite("Several commands in one batch")
struct BatchTests {
    let schema = TableSchema(name: "Music", partitionKey: "Artist", sortKey: "SongTitle")

    func put(_ title: String, _ album: String, expected: UInt64? = nil) -> NoSQLCommand {
        .putItem(table: "Music", item: ["Artist": "Queen", "SongTitle": .string(title), "Album": .string(album)], expectedVersion: expected)
    }

    /// A log where every command depends on an earlier one's writes.
    var chain: [NoSQLCommand] {
        [
            .createTable(schema),
            put("Bohemian Rhapsody", "A Night at the Opera"),
            put("Bohemian Rhapsody", "Greatest Hits", expected: 2),  // needs the version written at 2
            .rollbackItem(table: "Music", key: ItemKey("Queen", "Bohemian Rhapsody"), expectedVersion: 3),  // needs the previous
            put("Bohemian Rhapsody", "stale view", expected: 3),  // conflict: rollback made it 4
            put("Killer Queen", "Sheer Heart Attack", expected: 0),
            .deleteItem(table: "Music", key: ItemKey("Queen", "Killer Queen"), expectedVersion: 6),
            .deleteItem(table: "Music", key: ItemKey("Queen", "Killer Queen"), expectedVersion: nil),  // already gone
            put("Somebody to Love", "A Day at the Races"),
            .deleteTable(name: "Nope"),
            .createTable(TableSchema(name: "Music", partitionKey: "x")),  // exists
        ]
    }

    @Test("reads during apply see earlier commands of the same batch, and results match one-by-one application")
    func readYourWrites() throws {
        let machine = NoSQLStateMachine()
        // All in one batch.
        let batched = try freshMemoryStore()
        var pending = PendingWrites(store: batched)
        var batchResults: [CommandResult] = []
        for (offset, command) in chain.enumerated() {
            batchResults.append(try machine.apply(command, at: UInt64(offset + 1), to: &pending))
        }
        #expect(try batched.scan(.all).isEmpty)  // nothing is visible before the commit
        try batched.apply(pending.writeBatch, through: AppliedPosition(index: UInt64(chain.count), term: 1))

        // One batch per command.
        var single = try Node()
        var singleResults: [CommandResult] = []
        for command in chain { singleResults.append(try single.apply(command)) }

        #expect(batchResults == singleResults)
        #expect(try batched.scan(.all) == single.store.scan(.all))
        let codes = batchResults.map { result -> String in
            switch result {
            case .success: "ok"
            case .failure(let error): error.code.rawValue
            }
        }
        #expect(codes == ["ok", "ok", "ok", "ok", "version_conflict", "ok", "ok", "item_not_found", "ok", "table_not_found", "table_exists"])
        let bohemian = try machine.getItem(table: "Music", key: ItemKey("Queen", "Bohemian Rhapsody"), in: batched)
        #expect(bohemian.version == 4)
        #expect(bohemian.item["Album"] == "A Night at the Opera")
        #expect(bohemian.previous?.item["Album"] == "Greatest Hits")
    }

    @Test("the WriteBatch convenience API and log entries give the same state")
    func otherEntryPoints() throws {
        let machine = NoSQLStateMachine()
        let reference = try freshMemoryStore()
        var pending = PendingWrites(store: reference)
        for (offset, command) in chain.enumerated() { _ = try machine.apply(command, at: UInt64(offset + 1), to: &pending) }
        try reference.apply(pending.writeBatch, through: AppliedPosition(index: 20, term: 1))

        // apply(_:at:batch:store:), with an unrelated operation already in the batch.
        let viaBatch = try freshMemoryStore()
        var batch = WriteBatch()
        batch.put([0xFF, 0x01], [1])
        for (offset, command) in chain.enumerated() {
            _ = try machine.apply(command, at: UInt64(offset + 1), batch: &batch, store: viaBatch)
        }
        try viaBatch.apply(batch, through: AppliedPosition(index: 20, term: 1))
        #expect(try viaBatch.scan(.all) == reference.scan(.all) + [KeyValue(key: [0xFF, 0x01], value: [1])])

        // apply(_ entries:store:), with a no-op and a configuration entry (they do not reach
        // the state machine) and one entry of garbage bytes.
        let viaEntries = try freshMemoryStore()
        var entries = chain.enumerated().map { offset, command in
            LogEntry(index: UInt64(offset + 1), term: 1, kind: .command, data: command.encoded())
        }
        let next = UInt64(chain.count + 1)
        entries.append(LogEntry(index: next, term: 1, kind: .noop))
        entries.append(LogEntry(index: next + 1, term: 1, kind: .configuration, data: [1, 2, 3]))
        entries.append(LogEntry(index: next + 2, term: 1, kind: .command, data: [1, 99]))
        let (entryBatch, results) = try machine.apply(entries, store: viaEntries)
        try viaEntries.apply(entryBatch, through: AppliedPosition(index: next + 2, term: 1))
        #expect(results.map(\.index) == Array(1...UInt64(chain.count)) + [next + 2])
        expectFailure(results.last!.result, .invalidCommand)
        // The same tables and items; only the last applied index differs (the garbage entry used one).
        let data = KeyRange(from: [0x01], to: [0xFF])
        #expect(try viaEntries.scan(data) == reference.scan(data))
        #expect(try machine.lastAppliedIndex(in: viaEntries) == next + 2)
    }

    @Test("delete-table in a batch removes items written earlier in the same batch and items already stored")
    func deleteTableSeesPending() throws {
        var node = try Node()
        try node.expectSuccess(.createTable(schema))
        for n in 0..<3000 { try node.expectSuccess(put("stored \(n)", "x")) }
        var pending = PendingWrites(store: node.store)
        _ = try node.machine.apply(put("pending", "y"), at: 5000, to: &pending)
        _ = try node.machine.apply(.deleteItem(table: "Music", key: ItemKey("Queen", "stored 7"), expectedVersion: nil), at: 5001, to: &pending)
        let result = try node.machine.apply(.deleteTable(name: "Music"), at: 5002, to: &pending)
        #expect(result == .success(.tableDeleted(TableInfo(schema: schema, createdAt: 1), itemsDeleted: 3000)))
        try node.store.apply(pending.writeBatch, through: AppliedPosition(index: 5002, term: 1))
        #expect(try node.store.scan(.all).map(\.key) == [[0x00, 0x01]])
    }
}
