import CRocksDB
import StorageCore
import Synchronization

/// The state machine's pairs in one RocksDB database, column family `state`.
///
/// Key layout: each user key behind a 4-byte big-endian *generation*, so a
/// restore can write the new state beside the old one and switch over in one
/// atomic batch; the applied position and the current generation sit behind
/// the reserved prefix FF FF FF FF, after every generation. They share the
/// column family with the pairs on purpose: an unsynced apply's pairs and its
/// position are then in one memtable and one WAL record, so a power cut can
/// only lose a suffix of whole applies.
///
/// # Where it syncs
/// Each `apply` is one WriteBatch carrying the applied position with the
/// writes. With `sync` on it is written with sync=1 in `StateSyncMode.always`
/// (1 sync). In `.checkpoint` it is written with sync=0 (appended to the WAL
/// with write(2)); RocksDB recovers a prefix of such writes after power loss
/// ("point in time" WAL recovery), and `checkpoint()` makes all of them
/// durable with one `rocksdb_flush_wal(sync=1)`: 1 sync per checkpoint.
/// A `restore` streams the new pairs in unsynced chunks of
/// `restoreChunkBytes`, then commits with one synced batch (1 sync).
final class RocksDBStateStore: StateStore {
    static let metaPrefix: Bytes = [0xFF, 0xFF, 0xFF, 0xFF]
    static let appliedKey = metaPrefix + Bytes("applied".utf8)
    static let generationKey = metaPrefix + Bytes("generation".utf8)
    /// A restore writes the new state in batches of about this many bytes, so
    /// it never holds more than one batch in memory.
    static let restoreChunkBytes = 4 << 20

    private let database: RocksDBDatabase
    private let state: RocksDBDatabase.Family
    private let syncEachApply: Bool
    /// Set by an apply written without a sync, cleared by the checkpoint that syncs it.
    private let unsynced = Atomic(false)
    /// Cached applied position; nil once closed. Held only for a moment.
    private let applied: Mutex<AppliedPosition?>
    /// The generation reads look under. Readers hold it shared while they
    /// read; a restore takes it exclusive only to switch over and drop the
    /// old generation, so no read ever sees half of a switch.
    private let generation: ReadWriteLock<UInt32>
    /// Serialises mutating calls across the engine write and its fsync, so
    /// readers never wait for the disk.
    private let writer = Mutex(())
    /// The largest key and value this store holds; larger writes are refused before any is written.
    let limits: StateStoreLimits

    static func prefix(_ generation: UInt32) -> Bytes {
        withUnsafeBytes(of: generation.bigEndian) { Array($0) }
    }

    init(directory: String, sync: Bool, stateSync: StateSyncMode, settings: RocksDBSettings, limits: StateStoreLimits = .cluster) throws {
        self.limits = limits
        syncEachApply = stateSync == .always
        let database = try RocksDBDatabase(
            directory: directory, sync: sync, settings: settings, families: ["state"],
            recovery: Int32(rocksdb_point_in_time_recovery))
        state = RocksDBDatabase.families(1)[0]
        do {
            let position = try database.get(state, Self.appliedKey).map {
                try PositionCodec.decode($0, source: "\(directory) (applied position)")
            } ?? .zero
            let generation = try Self.decodeGeneration(database.get(state, Self.generationKey), directory)
            try Self.removeOtherGenerations(database, state, keeping: generation)
            self.applied = Mutex(position)
            self.generation = ReadWriteLock(generation)
            self.database = database
        } catch {
            try? database.close()
            throw error
        }
    }

    private static func decodeGeneration(_ bytes: Bytes?, _ directory: String) throws -> UInt32 {
        guard let bytes else { return 0 }
        guard bytes.count == 4 else {
            throw StorageError.corrupted(path: directory, reason: "state generation record is \(bytes.count) bytes, not 4")
        }
        return bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// Pairs of any other generation are what a restore left when a crash
    /// interrupted it (the switch to the new generation never happened).
    private static func removeOtherGenerations(
        _ database: RocksDBDatabase, _ state: RocksDBDatabase.Family, keeping generation: UInt32
    ) throws {
        let own = prefix(generation)
        let next = prefix(generation + 1)
        var before = false
        var after = false
        try database.scan(state, from: []) { pair in
            before = pair.key.sortsBefore(own)
            return false
        }
        try database.scan(state, from: next) { pair in
            after = pair.key.sortsBefore(metaPrefix)
            return false
        }
        guard before || after else { return }
        try database.write(durable: false) { batch in
            if before { batch.deleteRange(state, from: [], to: own) }
            if after { batch.deleteRange(state, from: next, to: metaPrefix) }
        }
    }

    /// Runs `body` with the prefix of the current generation, which no
    /// restore switches meanwhile.
    private func withPrefix<R>(_ body: (Bytes) throws -> R) throws -> R {
        _ = try appliedPosition()
        return try generation.withShared { try body(Self.prefix($0)) }
    }

    func get(_ key: Bytes) throws -> Bytes? {
        try withPrefix { prefix in try database.get(state, prefix + key) }
    }

    func scan(_ range: KeyRange, limit: Int) throws -> [KeyValue] {
        guard limit > 0 else {
            _ = try appliedPosition()
            return []
        }
        return try withPrefix { prefix in
            var pairs: [KeyValue] = []
            try database.scan(state, from: prefix + range.lower) { pair in
                guard pair.key.starts(with: prefix) else { return false }
                let key = Array(pair.key[prefix.count...])
                guard !range.isPastEnd(key) else { return false }
                pairs.append(KeyValue(key: key, value: pair.value))
                return pairs.count < limit
            }
            return pairs
        }
    }

    func apply(_ batch: WriteBatch, through position: AppliedPosition) throws {
        try limits.check(batch)
        try writer.withLock { _ in
            let current = try appliedPosition()
            guard position >= current else {
                throw StorageError.invalidArgument(
                    "applied position \(position.index) is below the current position \(current.index)")
            }
            // Stable: only a restore changes it, and restores hold `writer` too.
            let prefix = generation.withShared { Self.prefix($0) }
            try database.write(durable: syncEachApply) { writes in
                for operation in batch.operations {
                    switch operation {
                    case .put(let key, let value): writes.put(state, prefix + key, value)
                    case .delete(let key): writes.delete(state, prefix + key)
                    }
                }
                writes.put(state, Self.appliedKey, PositionCodec.encode(position))
            }
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
            try database.syncWAL()
            unsynced.store(false, ordering: .relaxed)
            return position
        }
    }

    /// A RocksDB snapshot and an iterator reading it; the position and the
    /// generation come from the same snapshot, so they always match the pairs.
    func snapshot() throws -> any StateSnapshot {
        _ = try appliedPosition()
        let directory = database.directory
        let (reader, values) = try database.openReader(
            state, reading: [(state, Self.appliedKey), (state, Self.generationKey)]
        ) { values in
            let generation = try Self.decodeGeneration(values[1], directory)
            return (Self.prefix(generation), Self.prefix(generation + 1))
        }
        do {
            let position = try values[0].map {
                try PositionCodec.decode($0, source: "\(directory) (applied position)")
            } ?? .zero
            return RocksDBStateSnapshot(database: database, reader: reader, prefixLength: 4, position: position)
        } catch {
            database.closeReader(reader)
            throw error
        }
    }

    /// Writes the new pairs under the next generation in unsynced chunks,
    /// then, in one synced batch, records the new generation and position.
    /// Until that batch the old state is the state: a crash or a bad source
    /// midway leaves it whole, and the half-written generation is removed
    /// (now, or at the next open after a crash). Memory stays at one chunk.
    /// Then readers switch to the new generation and the old one goes with a
    /// range tombstone (unsynced: after a crash, open removes it again).
    func restore(from source: inout some KeyValueSource, position: AppliedPosition) throws {
        try writer.withLock { _ in
            _ = try appliedPosition()
            let old = generation.withShared { $0 }
            guard old < UInt32.max - 1 else {
                throw StorageError.full(backend: RocksDBError.backend, detail: "no state generation left for another restore")
            }
            let next = old + 1
            let nextPrefix = Self.prefix(next)
            var chunk: [KeyValue] = []
            var chunkBytes = 0
            do {
                var previous: Bytes?
                // Read outside the database lock: the source may be a snapshot of this very store.
                while let pair = try source.next() {
                    try RestoreOrder.check(pair.key, after: previous)
                    try limits.check(key: pair.key, value: pair.value)
                    previous = pair.key
                    chunkBytes += pair.key.count + pair.value.count + 16
                    chunk.append(pair)
                    if chunkBytes >= Self.restoreChunkBytes {
                        try database.write(durable: false) { batch in
                            for pair in chunk { batch.put(state, nextPrefix + pair.key, pair.value) }
                        }
                        chunk.removeAll(keepingCapacity: true)
                        chunkBytes = 0
                    }
                }
                try database.write { batch in
                    for pair in chunk { batch.put(state, nextPrefix + pair.key, pair.value) }
                    batch.put(state, Self.appliedKey, PositionCodec.encode(position))
                    batch.put(state, Self.generationKey, nextPrefix)
                }
            } catch {
                try? database.write(durable: false) { batch in
                    batch.deleteRange(state, from: nextPrefix, to: Self.prefix(next + 1))
                }
                throw error
            }
            unsynced.store(false, ordering: .relaxed)
            try generation.withExclusive { current in
                current = next
                applied.withLock { if $0 != nil { $0 = position } }
                try database.write(durable: false) { batch in
                    batch.deleteRange(state, from: Self.prefix(old), to: nextPrefix)
                }
            }
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

/// A point-in-time view of a RocksDB state store: a `rocksdb_snapshot` and an
/// iterator reading it, both owned by the database's reader table. Later
/// writes do not show through, and they are not blocked. Until `close()`
/// RocksDB keeps the files the snapshot reads; closing the store ends the
/// snapshot too (`.closed`).
final class RocksDBStateSnapshot: StateSnapshot {
    let position: AppliedPosition
    private let database: RocksDBDatabase
    private let reader: Int
    private let prefixLength: Int

    init(database: RocksDBDatabase, reader: Int, prefixLength: Int, position: AppliedPosition) {
        self.database = database
        self.reader = reader
        self.prefixLength = prefixLength
        self.position = position
    }

    func next() throws -> KeyValue? {
        guard let pair = try database.next(reader: reader) else { return nil }
        return KeyValue(key: Array(pair.key[prefixLength...]), value: pair.value)
    }

    func close() { database.closeReader(reader) }

    /// A forgotten snapshot must not pin files for the life of the store.
    deinit { database.closeReader(reader) }
}
