/// What an applied command did, for the client that proposed it.
///
/// A failed command (conflict, missing table...) is a `.failure` result, not
/// a thrown error: every node fails it the same way and writes nothing, and
/// the rest of the batch goes on.
public typealias CommandResult = Result<CommandOutcome, NoSQLError>

public enum CommandOutcome: Sendable, Hashable {
    case tableCreated(TableInfo)
    case tableDeleted(TableInfo, itemsDeleted: Int)
    /// The item as stored after the put.
    case itemPut(table: String, StoredItem)
    /// The version the item had when it was deleted.
    case itemDeleted(table: String, key: ItemKey, deleted: ItemVersion)
    /// The item as stored after the rollback.
    case itemRolledBack(table: String, StoredItem)
    /// What each write of a transaction did, in order.
    case transactionWritten([ItemWriteOutcome])
}

/// What one write of a transaction did.
public struct ItemWriteOutcome: Sendable, Hashable {
    public var key: ItemKey
    /// The item before the write (nil when there was none).
    public var old: ItemVersion?
    /// The item after the write (nil after a delete, or for a condition check).
    public var new: ItemVersion?

    public init(key: ItemKey, old: ItemVersion?, new: ItemVersion?) {
        self.key = key
        self.old = old
        self.new = new
    }
}

/// The result of one command entry of a batch of log entries.
public struct AppliedCommand: Sendable, Hashable {
    public var index: UInt64
    public var result: CommandResult

    public init(index: UInt64, result: CommandResult) {
        self.index = index
        self.result = result
    }
}
