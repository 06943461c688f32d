import NoSQL
import StorageCore
import Testing

@Suite("Versions, optimistic locking, last-write-wins, rollback")
struct VersioningTests {
    let key = ItemKey("Journey", "Separate Ways")

    func item(_ album: String) -> JSONValue {
        ["Artist": "Journey", "SongTitle": "Separate Ways", "Album": .string(album)]
    }

    func musicNode() throws -> Node {
        var node = try Node()
        try node.expectSuccess(.createTable(TableSchema(name: "Music", partitionKey: "Artist", sortKey: "SongTitle")))
        return node
    }

    @Test("an item's version is the log index of its last write")
    func versions() throws {
        var node = try musicNode()
        try node.apply(.putItem(table: "Music", item: item("v1"), expectedVersion: nil), at: 10)
        #expect(try node.get("Music", key).version == 10)
        try node.apply(.putItem(table: "Music", item: item("v2"), expectedVersion: nil), at: 15)
        let stored = try node.get("Music", key)
        #expect(stored.current == ItemVersion(version: 15, item: item("v2")))
        #expect(stored.previous == ItemVersion(version: 10, item: item("v1")))
    }

    @Test("expected version: a match writes, a mismatch is version_conflict ('update out of sequence') and writes nothing")
    func optimisticLocking() throws {
        var node = try musicNode()
        // 0 means "must not exist".
        try node.expectSuccess(.putItem(table: "Music", item: item("v1"), expectedVersion: 0))
        let v1 = try node.get("Music", key).version
        let conflict = try node.apply(.putItem(table: "Music", item: item("again"), expectedVersion: 0))
        expectFailure(conflict, .versionConflict)
        if case .failure(let error) = conflict {
            #expect(error.message.contains("update out of sequence"))
            #expect(error.httpStatus == 409)
        }
        try node.expectSuccess(.putItem(table: "Music", item: item("v2"), expectedVersion: v1))
        let v2 = try node.get("Music", key).version
        // A writer still holding v1 is refused, and the item is untouched.
        expectFailure(try node.apply(.putItem(table: "Music", item: item("lost update"), expectedVersion: v1)), .versionConflict)
        expectFailure(try node.apply(.deleteItem(table: "Music", key: key, expectedVersion: v1)), .versionConflict)
        expectFailure(try node.apply(.rollbackItem(table: "Music", key: key, expectedVersion: v1)), .versionConflict)
        #expect(try node.get("Music", key).current == ItemVersion(version: v2, item: item("v2")))
        // Expecting a version of an item that does not exist is a conflict for put.
        expectFailure(
            try node.apply(.putItem(table: "Music", item: ["Artist": "a", "SongTitle": "b"], expectedVersion: 3)), .versionConflict)
        // The right version deletes.
        try node.expectSuccess(.deleteItem(table: "Music", key: key, expectedVersion: v2))
        expectError(.itemNotFound) { try node.get("Music", key) }
    }

    @Test("last write wins by log index: a stale index never overwrites, even after a delete")
    func lastWriteWins() throws {
        var node = try musicNode()
        try node.apply(.putItem(table: "Music", item: item("new"), expectedVersion: nil), at: 20)
        let before = try node.store.scan(.all)
        expectFailure(try node.apply(.putItem(table: "Music", item: item("old"), expectedVersion: nil), at: 12), .staleWrite)
        expectFailure(try node.apply(.putItem(table: "Music", item: item("same"), expectedVersion: nil), at: 20), .staleWrite)
        #expect(try node.store.scan(.all) == before)
        #expect(try node.get("Music", key).item == item("new"))

        try node.apply(.deleteItem(table: "Music", key: key, expectedVersion: nil), at: 30)
        expectFailure(try node.apply(.putItem(table: "Music", item: item("zombie"), expectedVersion: nil), at: 25), .staleWrite)
        expectError(.itemNotFound) { try node.get("Music", key) }
        expectFailure(try node.apply(.deleteTable(name: "Music"), at: 29), .staleWrite)
        #expect(try node.machine.lastAppliedIndex(in: node.store) == 30)
        // A newer index goes through.
        try node.apply(.putItem(table: "Music", item: item("newer"), expectedVersion: nil), at: 31)
        #expect(try node.get("Music", key).version == 31)
    }

    @Test("rollback swaps current and previous, like docker service rollback swaps Spec and PreviousSpec")
    func rollback() throws {
        var node = try musicNode()
        try node.apply(.putItem(table: "Music", item: item("v1"), expectedVersion: nil), at: 5)
        try node.apply(.putItem(table: "Music", item: item("v2"), expectedVersion: nil), at: 8)
        try node.apply(.putItem(table: "Music", item: item("v3"), expectedVersion: nil), at: 9)
        // One generation only: v1 is gone.
        #expect(try node.get("Music", key).previous == ItemVersion(version: 8, item: item("v2")))

        let rolled = try node.apply(.rollbackItem(table: "Music", key: key, expectedVersion: 9), at: 12)
        let afterFirst = StoredItem(current: ItemVersion(version: 12, item: item("v2")), previous: ItemVersion(version: 9, item: item("v3")))
        #expect(rolled == .success(.itemRolledBack(table: "Music", afterFirst)))
        #expect(try node.get("Music", key) == afterFirst)

        // Rolling back again swaps back; the rollback is a write with its own index.
        try node.apply(.rollbackItem(table: "Music", key: key, expectedVersion: nil), at: 14)
        #expect(
            try node.get("Music", key)
                == StoredItem(current: ItemVersion(version: 14, item: item("v3")), previous: ItemVersion(version: 12, item: item("v2"))))
    }

    @Test("rollback of a new item is no_previous_version; of a missing item, item_not_found")
    func rollbackErrors() throws {
        var node = try musicNode()
        expectFailure(try node.apply(.rollbackItem(table: "Music", key: key, expectedVersion: nil)), .itemNotFound)
        try node.expectSuccess(.putItem(table: "Music", item: item("only"), expectedVersion: nil))
        let result = try node.apply(.rollbackItem(table: "Music", key: key, expectedVersion: nil))
        expectFailure(result, .noPreviousVersion)
        if case .failure(let error) = result { #expect(error.httpStatus == 409) }
        #expect(try node.get("Music", key).item == item("only"))
        // A delete drops the history: a new put starts with no previous version.
        try node.expectSuccess(.putItem(table: "Music", item: item("second"), expectedVersion: nil))
        try node.expectSuccess(.deleteItem(table: "Music", key: key, expectedVersion: nil))
        try node.expectSuccess(.putItem(table: "Music", item: item("reborn"), expectedVersion: 0))
        #expect(try node.get("Music", key).previous == nil)
        expectFailure(try node.apply(.rollbackItem(table: "Music", key: ItemKey("Journey"), expectedVersion: nil)), .missingKeyAttribute)
    }
}
