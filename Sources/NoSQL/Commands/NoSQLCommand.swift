/// A write that goes through the Raft log. Reads never do: they read a
/// node's `StateStore` directly (see `NoSQLStateMachine+Reads`).
///
/// A server builds one from a request, checks it with `validate` (and
/// `NoSQLStateMachine.prepare`), proposes `encoded()` as a log entry, and
/// every node applies the decoded command at the entry's index.
public enum NoSQLCommand: Sendable, Hashable {
    case createTable(TableSchema)
    /// Deletes the table and every item in it.
    case deleteTable(name: String)
    /// Creates or replaces the item with the same key. `expectedVersion`:
    /// nil writes unconditionally, 0 only if the item does not exist,
    /// n only if its current version is n.
    case putItem(table: String, item: JSONValue, expectedVersion: UInt64?)
    /// Deletes an item. `expectedVersion`: nil unconditionally, n ≥ 1 only if
    /// its current version is n.
    case deleteItem(table: String, key: ItemKey, expectedVersion: UInt64?)
    /// Swaps an item's current and previous versions. `expectedVersion` as for delete.
    case rollbackItem(table: String, key: ItemKey, expectedVersion: UInt64?)

    /// The table the command addresses.
    public var table: String {
        switch self {
        case .createTable(let schema): schema.name
        case .deleteTable(let name): name
        case .putItem(let table, _, _), .deleteItem(let table, _, _), .rollbackItem(let table, _, _): table
        }
    }

    /// The command's name in the original simulator's CLI, for logs and metrics.
    public var name: String {
        switch self {
        case .createTable: "create-table"
        case .deleteTable: "delete-table"
        case .putItem: "put-item"
        case .deleteItem: "delete-item"
        case .rollbackItem: "rollback-item"
        }
    }
}
