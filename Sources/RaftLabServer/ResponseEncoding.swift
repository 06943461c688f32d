import Foundation
import NoSQL
import RaftLabAPI
import RaftLabNode

/// The JSON documents the API answers with. Items are embedded as the
/// `JSONValue`s the state machine stored and written with its canonical
/// serializer, so an item comes back byte for byte as every node holds it
/// (numbers stay exact, keys keep their JSON types).
enum APIDocuments {
    /// `{"table_name", "partition_key_name", "sort_key_name", "created_at"}`.
    static func table(_ info: TableInfo) -> [(String, JSONValue)] {
        [
            ("table_name", .string(info.name)),
            ("partition_key_name", .string(info.schema.partitionKey)),
            ("sort_key_name", info.schema.sortKey.map { .string($0) } ?? .null),
            ("created_at", .unsigned(info.createdAt)),
        ]
    }

    /// `{"item", "version", "previous_version"}`: the current content, the log
    /// index that made it current, and the version a rollback would restore (or null).
    static func item(_ stored: StoredItem) -> [(String, JSONValue)] {
        [
            ("item", stored.item),
            ("version", .unsigned(stored.version)),
            ("previous_version", .unsigned(stored.previous?.version)),
        ]
    }

    /// The answer to a write, by what the command did, with the log `index` that stamped it.
    static func write(_ ack: WriteAck) -> (status: Int, body: JSONValue) {
        let index: (String, JSONValue) = ("index", .unsigned(ack.index))
        switch ack.outcome {
        case .tableCreated(let info):
            return (201, .object(from: table(info) + [index]))
        case let .tableDeleted(info, itemsDeleted):
            return (200, .object(from: [("table_name", .string(info.name)), ("items_deleted", .int(itemsDeleted)), index]))
        case let .itemPut(table, stored), let .itemRolledBack(table, stored):
            return (200, .object(from: [("table", .string(table))] + item(stored) + [index]))
        case let .itemDeleted(table, _, deleted):
            return (
                200,
                .object(from: [
                    ("table", .string(table)), ("deleted_item", deleted.item),
                    ("deleted_version", .unsigned(deleted.version)), index,
                ])
            )
        case .transactionWritten(let outcomes):
            // Only the DynamoDB API writes transactions; rendered for completeness.
            return (200, .object(from: [("writes", .int(outcomes.count)), index]))
        }
    }

    static func query(table: String, _ page: QueryPage) -> JSONValue {
        .object(from: [
            ("table", .string(table)),
            ("items", .array(page.items.map { .object(from: item($0)) })),
            ("count", .int(page.items.count)),
            ("continuation_token", page.continuationToken.map { .string($0) } ?? .null),
        ])
    }

    /// `NodeStatus` with its own snake_case keys, every key present
    /// (`leader_http_addr` is null while no leader is known).
    static func status(_ status: NodeStatus) throws -> JSONValue {
        let encoded = try JSONEncoder().encode(status)
        var members: [(String, JSONValue)] = []
        if case .object(let object) = try JSONValue.parse(Array(encoded)) {
            members = object.members.map { ($0.key, $0.value) }
        }
        if !members.contains(where: { $0.0 == "leader_http_addr" }) {
            members.append(("leader_http_addr", .null))
        }
        return .object(from: members)
    }
}
