import StorageCore

/// A point-in-time view of an LMDB state store: one read-only transaction
/// (MVCC, so writes continue and never show through) and a cursor, both owned
/// by the environment's reader table. This object holds only immutable
/// references, which is why it is Sendable without a lock of its own; the
/// environment serialises access to the cursor.
///
/// Until `close()` the transaction pins the pages it sees, so the data file
/// cannot reuse them; closing the store ends the snapshot too (`.closed`).
final class LMDBStateSnapshot: StateSnapshot {
    let position: AppliedPosition
    private let environment: LMDBEnvironment
    private let reader: Int

    init(environment: LMDBEnvironment, reader: Int, position: AppliedPosition) {
        self.environment = environment
        self.reader = reader
        self.position = position
    }

    func next() throws -> KeyValue? {
        guard let pair = try environment.next(reader: reader) else { return nil }
        return KeyValue(key: try LMDBStateStore.userKey(pair.key, path: environment.dataPath), value: pair.value)
    }

    func close() { environment.closeReader(reader) }

    /// A forgotten snapshot must not pin pages for the life of the store.
    deinit { environment.closeReader(reader) }
}
