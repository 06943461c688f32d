/// One version of an item: its content and the log index of the write that
/// made it current.
public struct ItemVersion: Sendable, Hashable {
    /// Log index of the write (put, update or rollback) that made this content current.
    public var version: UInt64
    /// The item, in its canonical encoding.
    public var content: Item

    public init(version: UInt64, content: Item) {
        self.version = version
        self.content = content
    }

    /// A version holding a native JSON item.
    public init(version: UInt64, item: JSONValue) {
        self.init(version: version, content: Item(json: item))
    }

    /// The native API's JSON view of the content (see `AttributeValue.json`).
    public var item: JSONValue { content.json }
}

/// An item as stored: the current version and, like a Docker Swarm service's
/// Spec and PreviousSpec, the one before it (one generation only).
///
/// - A put or an update makes the new content current and the old current
///   the previous one (or none for a new item).
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
    /// The current content.
    public var content: Item { current.content }
    /// The native JSON view of the current content.
    public var item: JSONValue { current.item }
}
