/// One version of an item: its content and the log index of the write that
/// made it current.
public struct ItemVersion: Sendable, Hashable {
    /// Log index of the write (put or rollback) that made this content current.
    public var version: UInt64
    /// The item, a JSON object.
    public var item: JSONValue

    public init(version: UInt64, item: JSONValue) {
        self.version = version
        self.item = item
    }
}

/// An item as stored: the current version and, like a Docker Swarm service's
/// Spec and PreviousSpec, the one before it (one generation only).
///
/// - A put makes the new content current and the old current the previous one
///   (or none for a new item).
/// - A rollback swaps them; it is itself a write, so the restored content gets
///   the rollback's index as its version, while the demoted content keeps the
///   version it had.
/// - A delete removes the item with its previous version; a later put starts a
///   new history.
public struct StoredItem: Sendable, Hashable {
    public var current: ItemVersion
    public var previous: ItemVersion?

    public init(current: ItemVersion, previous: ItemVersion? = nil) {
        self.current = current
        self.previous = previous
    }

    /// The version clients pass back as `expectedVersion`.
    public var version: UInt64 { current.version }
    public var item: JSONValue { current.item }
}
