import StorageCore
import Synchronization

/// The state machine's pairs in one LevelDB database: each user key behind
/// the data namespace byte, the applied position under its own meta key (see
/// `LevelDBKeys`). LevelDB's default comparator is unsigned byte order, and
/// it accepts empty keys, so user keys need no other transformation.
///
/// # Where it syncs
/// Each `apply` and `restore` is one WriteBatch that carries the applied
/// position with the writes (see `LevelDBDatabase`). With `sync` on, a
/// `restore` is written with sync=1 (1 sync). An `apply` is too in
/// `StateSyncMode.always`; in `.checkpoint` it is written with sync=0 (LevelDB
/// appends it to its .log file without fdatasync, and recovers a prefix of
/// such writes after power loss), and `checkpoint()` writes the applied
/// position again with sync=1, which fdatasyncs the .log and with it every
/// earlier write: 1 sync per checkpoint.
final class LevelDBStateStore: StateStore {
    private let database: LevelDBDatabase
    private let syncEachApply: Bool
    /// Set by an apply written without a sync, cleared by the checkpoint that syncs it.
    private let unsynced = Atomic(false)
    /// Cached applied position; nil once closed. Held only for a moment.
    private let applied: Mutex<AppliedPosition?>
    /// Serialises mutating calls across the engine write and its fsync, so
    /// readers (who only glance at `applied`) never wait for the disk.
    private let writer = Mutex(())

    init(directory: String, sync: Bool, stateSync: StateSyncMode, settings: LevelDBSettings) throws {
        syncEachApply = stateSync == .always
        let database = try LevelDBDatabase(directory: directory, sync: sync, settings: settings)
        do {
            self.applied = Mutex(try LevelDBStateStore.decodePosition(database.get(LevelDBKeys.applied), directory))
            self.database = database
        } catch {
            try? database.close()
            throw error
        }
    }

    static func decodePosition(_ bytes: Bytes?, _ directory: String) throws -> AppliedPosition {
        try bytes.map { try PositionCodec.decode($0, source: "\(directory) (applied position)") } ?? .zero
    }

    private func checkOpen() throws {
        guard applied.withLock({ $0 }) != nil else { throw StorageError.closed }
    }

    func get(_ key: Bytes) throws -> Bytes? {
        try checkOpen()
        return try database.get(LevelDBKeys.state(key))
    }

    func scan(_ range: KeyRange, limit: Int) throws -> [KeyValue] {
        try checkOpen()
        guard limit > 0 else { return [] }
        var pairs: [KeyValue] = []
        try database.scan(from: LevelDBKeys.state(range.lower)) { pair in
            guard let key = LevelDBKeys.userKey(pair.key), !range.isPastEnd(key) else { return false }
            pairs.append(KeyValue(key: key, value: pair.value))
            return pairs.count < limit
        }
        return pairs
    }

    func apply(_ batch: WriteBatch, through position: AppliedPosition) throws {
        try writer.withLock { _ in
            let current = try appliedPosition()
            guard position >= current else {
                throw StorageError.invalidArgument(
                    "applied position \(position.index) is below the current position \(current.index)")
            }
            let writes = LevelDBBatch()
            for operation in batch.operations {
                switch operation {
                case .put(let key, let value): writes.put(LevelDBKeys.state(key), value)
                case .delete(let key): writes.delete(LevelDBKeys.state(key))
                }
            }
            writes.put(LevelDBKeys.applied, PositionCodec.encode(position))
            try database.write(writes, durable: syncEachApply)
            if !syncEachApply { unsynced.store(true, ordering: .relaxed) }
            applied.withLock { if $0 != nil { $0 = position } }
        }
    }

    func appliedPosition() throws -> AppliedPosition {
        guard let position = applied.withLock({ $0 }) else { throw StorageError.closed }
        return position
    }

    func checkpoint() throws -> AppliedPosition {
        try writer.withLock { _ in
            let position = try appliedPosition()
            guard database.sync, unsynced.load(ordering: .relaxed) else { return position }
            let writes = LevelDBBatch()
            writes.put(LevelDBKeys.applied, PositionCodec.encode(position))
            try database.write(writes, durable: true)
            unsynced.store(false, ordering: .relaxed)
            return position
        }
    }

    func snapshot() throws -> any StateSnapshot {
        try checkOpen()
        let (reader, position) = try database.openReader(
            from: [LevelDBKeys.data], to: LevelDBKeys.dataEnd, reading: LevelDBKeys.applied)
        do {
            return LevelDBStateSnapshot(
                database: database, reader: reader,
                position: try LevelDBStateStore.decodePosition(position, database.directory))
        } catch {
            database.closeReader(reader)
            throw error
        }
    }

    /// One WriteBatch that deletes every existing pair, writes the new ones
    /// and the position: LevelDB applies a batch whole or not at all, so a
    /// crash midway leaves the old state. The batch is built in memory, so a
    /// restore needs memory in proportion to the old and new state.
    func restore(from source: inout some KeyValueSource, position: AppliedPosition) throws {
        try writer.withLock { _ in
            _ = try appliedPosition()
            let writes = LevelDBBatch()
            try database.scan(from: [LevelDBKeys.data]) { pair in
                guard LevelDBKeys.userKey(pair.key) != nil else { return false }
                writes.delete(pair.key)
                return true
            }
            // Read outside the database lock: the source may be a snapshot of
            // this very store. A delete followed by a put of the same key
            // leaves the put, so keys present before and after survive.
            var previous: Bytes?
            while let pair = try source.next() {
                try RestoreOrder.check(pair.key, after: previous)
                writes.put(LevelDBKeys.state(pair.key), pair.value)
                previous = pair.key
            }
            writes.put(LevelDBKeys.applied, PositionCodec.encode(position))
            try database.write(writes)
            unsynced.store(false, ordering: .relaxed)
            applied.withLock { if $0 != nil { $0 = position } }
        }
    }

    var syncCount: UInt64 { database.syncs.value }

    func close() throws {
        try writer.withLock { _ in
            applied.withLock { $0 = nil }
            try database.close()
        }
    }
}
