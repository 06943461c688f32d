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
    case putItem(table: String, item: Item, expectedVersion: UInt64?)
    /// Deletes an item. `expectedVersion`: nil unconditionally, n ≥ 1 only if
    /// its current version is n.
    case deleteItem(table: String, key: ItemKey, expectedVersion: UInt64?)
    /// Swaps an item's current and previous versions. `expectedVersion` as for delete.
    case rollbackItem(table: String, key: ItemKey, expectedVersion: UInt64?)
    /// Puts, updates, deletes and condition checks on distinct items, applied
    /// all together or not at all: one log entry, one atomic write. The
    /// DynamoDB API sends every single-item write as a transaction of one,
    /// and BatchWriteItem as a transaction of its puts and deletes.
    case transactWrite([ItemWrite])

    /// A put of a native JSON item (see `Item(json:)`).
    public static func putItem(table: String, item: JSONValue, expectedVersion: UInt64?) -> NoSQLCommand {
        .putItem(table: table, item: Item(json: item), expectedVersion: expectedVersion)
    }

    /// The table the command addresses (the first write's, for a transaction).
    public var table: String {
        switch self {
        case .createTable(let schema): schema.name
        case .deleteTable(let name): name
        case .putItem(let table, _, _), .deleteItem(let table, _, _), .rollbackItem(let table, _, _): table
        case .transactWrite(let writes): writes.first?.table ?? ""
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
        case .transactWrite: "transact-write"
        }
    }
}

/// One write of a `transactWrite` command.
public struct ItemWrite: Sendable, Hashable {
    public enum Action: Sendable, Hashable {
        /// Creates or replaces the item with the same key.
        case put(Item)
        /// Applies an update expression (creating the item when it does not exist).
        case update(key: ItemKey, expression: String)
        /// Deletes the item; nothing happens when it does not exist.
        case delete(key: ItemKey)
        /// Writes nothing: only the condition counts.
        case conditionCheck(key: ItemKey)
    }

    public var table: String
    public var action: Action
    /// A condition expression on the item as it is before the transaction;
    /// required for a condition check.
    public var condition: String?
    /// What the placeholders of `condition` and the update expression stand for.
    public var attributes: ExpressionAttributes
    /// When the condition fails, return the item as it was
    /// (`ReturnValuesOnConditionCheckFailure: ALL_OLD`).
    public var returnItemOnConditionFailure: Bool

    public init(
        table: String, action: Action, condition: String? = nil, attributes: ExpressionAttributes = ExpressionAttributes(),
        returnItemOnConditionFailure: Bool = false
    ) {
        self.table = table
        self.action = action
        self.condition = condition
        self.attributes = attributes
        self.returnItemOnConditionFailure = returnItemOnConditionFailure
    }

    /// The name of the action, as DynamoDB's transactions call it.
    public var actionName: String {
        switch action {
        case .put: "Put"
        case .update: "Update"
        case .delete: "Delete"
        case .conditionCheck: "ConditionCheck"
        }
    }
}
