import StorageCore
import Synchronization

/// The state machine's pairs in one LevelDB database: each user key behind
/// its generation's namespace byte, the applied position and the current
/// generation under their own meta keys (see `LevelDBKeys`). LevelDB's
/// default comparator is unsigned byte order, and it accepts empty keys, so
/// user keys need no other transformation.
///
/// Why two generations: a restore replaces the whole state, and one
/// WriteBatch is held whole in memory, so restoring a large snapshot in one
/// batch needs memory in proportion to the state. A restore instead writes
/// the other generation in batches of bounded size (unsynced), then one
/// synced batch makes it current with the new position: a crash before that
/// leaves the old state current. The old generation's pairs stay until the
/// next restore (or open) clears them, so a read that picked the generation
/// just before the switch still finds a whole, consistent (older) state.
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
    /// Bytes of pairs a restore writes per batch.
    static let restoreBatchBytes = 16 << 20

    private let database: LevelDBDatabase
    private let syncEachApply: Bool
    /// Set by an apply written without a sync, cleared by the checkpoint that syncs it.
    private let unsynced = Atomic(false)

    private struct Current: Sendable {
        var position: AppliedPosition
        var generation: UInt8
    }

    /// Cached position and generation; nil once closed. Held only for a moment.
    private let current: Mutex<Current?>
    /// Serialises mutating calls across the engine write and its fsync, so
    /// readers (who only glance at `current`) never wait for the disk.
    private let writer = Mutex(())
    /// The largest key and value this store holds; larger writes are refused before any is written.
    let limits: StateStoreLimits

    init(directory: String, sync: Bool, stateSync: StateSyncMode, settings: LevelDBSettings, limits: StateStoreLimits = .cluster) throws {
        self.limits = limits
        syncEachApply = stateSync == .always
        let database = try LevelDBDatabase(directory: directory, sync: sync, settings: settings)
        do {
            let position = try LevelDBStateStore.decodePosition(database.get(LevelDBKeys.applied), directory)
            let generation = try LevelDBStateStore.decodeGeneration(database.get(LevelDBKeys.generation), directory)
            // Pairs of the other generation: an interrupted restore, or the
            // state a finished restore replaced.
            try LevelDBStateStore.clear(generation: 1 - generation, in: database)
            self.current = Mutex(Current(position: position, generation: generation))
            self.database = database
        } catch {
            try? database.close()
            throw error
        }
    }

    static func decodePosition(_ bytes: Bytes?, _ directory: String) throws -> AppliedPosition {
        try bytes.map { try PositionCodec.decode($0, source: "\(directory) (applied position)") } ?? .zero
    }

    static func decodeGeneration(_ bytes: Bytes?, _ directory: String) throws -> UInt8 {
        guard let bytes else { return 0 }
        guard bytes.count == 1, bytes[0] <= 1 else {
            throw StorageError.corrupted(path: directory, reason: "the current generation is not 0 or 1")
        }
        return bytes[0]
    }

    /// Deletes every pair of `generation`, in batches of bounded size.
    private static func clear(generation: UInt8, in database: LevelDBDatabase) throws {
        while true {
            let batch = LevelDBBatch()
            var bytes = 0
            try database.scan(from: LevelDBKeys.stateStart(generation)) { pair in
                guard pair.key.sortsBefore(LevelDBKeys.stateEnd(generation)) else { return false }
                batch.delete(pair.key)
                bytes += pair.key.count
                return bytes < restoreBatchBytes
            }
            guard batch.count > 0 else { return }
            try database.write(batch, durable: false)
        }
    }

    private func now() throws -> Current {
        guard let current = current.withLock({ $0 }) else { throw StorageError.closed }
        return current
    }

    func get(_ key: Bytes) throws -> Bytes? {
        try database.get(LevelDBKeys.state(key, generation: try now().generation))
    }

    func scan(_ range: KeyRange, limit: Int) throws -> [KeyValue] {
        let generation = try now().generation
        guard limit > 0 else { return [] }
        var pairs: [KeyValue] = []
        try database.scan(from: LevelDBKeys.state(range.lower, generation: generation)) { pair in
            guard let key = LevelDBKeys.userKey(pair.key, generation: generation), !range.isPastEnd(key) else { return false }
            pairs.append(KeyValue(key: key, value: pair.value))
            return pairs.count < limit
        }
        return pairs
    }

    func apply(_ batch: WriteBatch, through position: AppliedPosition) throws {
        try limits.check(batch)
        try writer.withLock { _ in
            let state = try now()
            guard position >= state.position else {
                throw StorageError.invalidArgument(
                    "applied position \(position.index) is below the current position \(state.position.index)")
            }
            let writes = LevelDBBatch()
            for operation in batch.operations {
                switch operation {
                case .put(let key, let value): writes.put(LevelDBKeys.state(key, generation: state.generation), value)
                case .delete(let key): writes.delete(LevelDBKeys.state(key, generation: state.generation))
                }
            }
            writes.put(LevelDBKeys.applied, PositionCodec.encode(position))
            try database.write(writes, durable: syncEachApply)
            if !syncEachApply { unsynced.store(true, ordering: .relaxed) }
            current.withLock { $0?.position = position }
        }
    }

    func appliedPosition() throws -> AppliedPosition {
        try now().position
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
        // Under the writer lock, so a restore cannot switch generations
        // between choosing one and opening the reader.
        try writer.withLock { _ in
            let generation = try now().generation
            let (reader, position) = try database.openReader(
                from: LevelDBKeys.stateStart(generation), to: LevelDBKeys.stateEnd(generation), reading: LevelDBKeys.applied)
            do {
                return LevelDBStateSnapshot(
                    database: database, reader: reader,
                    position: try LevelDBStateStore.decodePosition(position, database.directory), generation: generation)
            } catch {
                database.closeReader(reader)
                throw error
            }
        }
    }

    /// Writes the pairs into the other generation in batches of about
    /// `restoreBatchBytes`, then switches to it with the new position in one
    /// synced batch: a crash or an error before the switch leaves the old
    /// state current, and memory stays bounded whatever the state's size.
    func restore(from source: inout some KeyValueSource, position: AppliedPosition) throws {
        try writer.withLock { _ in
            let target = 1 - (try now().generation)
            try LevelDBStateStore.clear(generation: target, in: database)
            // The source may be a snapshot of this very store; it reads the
            // current generation, which nothing here writes.
            var previous: Bytes?
            var batch = LevelDBBatch()
            var bytes = 0
            while let pair = try source.next() {
                try RestoreOrder.check(pair.key, after: previous)
                try limits.check(key: pair.key, value: pair.value)
                batch.put(LevelDBKeys.state(pair.key, generation: target), pair.value)
                previous = pair.key
                bytes += pair.key.count + pair.value.count
                if bytes >= LevelDBStateStore.restoreBatchBytes {
                    try database.write(batch, durable: false)
                    batch = LevelDBBatch()
                    bytes = 0
                }
            }
            batch.put(LevelDBKeys.generation, [target])
            batch.put(LevelDBKeys.applied, PositionCodec.encode(position))
            // Synced: makes every earlier unsynced batch durable too.
            try database.write(batch)
            unsynced.store(false, ordering: .relaxed)
            current.withLock { if $0 != nil { $0 = Current(position: position, generation: target) } }
        }
    }

    var syncCount: UInt64 { database.syncs.value }

    func close() throws {
        try writer.withLock { _ in
            current.withLock { $0 = nil }
            try database.close()
        }
    }
}
