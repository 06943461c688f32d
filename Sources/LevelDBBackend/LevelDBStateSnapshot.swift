import StorageCore

/// A point-in-time view of a LevelDB state store: a `leveldb_snapshot` and an
/// iterator reading it, both owned by the database's reader table. Later
/// writes do not show through, and they are not blocked. This object holds
/// only immutable references, which is why it is Sendable without a lock of
/// its own; the database serialises access to the iterator.
///
/// Until `close()` LevelDB keeps the files the snapshot reads from; closing
/// the store ends the snapshot too (`.closed`).
final class LevelDBStateSnapshot: StateSnapshot {
    let position: AppliedPosition
    private let database: LevelDBDatabase
    private let reader: Int
    private let generation: UInt8

    init(database: LevelDBDatabase, reader: Int, position: AppliedPosition, generation: UInt8) {
        self.database = database
        self.reader = reader
        self.position = position
        self.generation = generation
    }

    func next() throws -> KeyValue? {
        guard let pair = try database.next(reader: reader), let key = LevelDBKeys.userKey(pair.key, generation: generation)
        else { return nil }
        return KeyValue(key: key, value: pair.value)
    }

    func close() { database.closeReader(reader) }

    /// A forgotten snapshot must not pin files for the life of the store.
    deinit { database.closeReader(reader) }
}
