import CLMDB
import StorageCore
import Synchronization

/// The state machine's key-value pairs in one LMDB environment: named
/// databases "state" and "state-1" hold the pairs of generation 0 and 1, and
/// "meta" the applied position and which generation is current. Each `apply`
/// is one write transaction covering the current generation and the
/// position, which is the atomicity the contract asks for. LMDB orders keys
/// with memcmp then length, which is unsigned byte order.
///
/// Why two generations: a restore replaces the whole state, and one LMDB
/// write transaction holds every page it dirties in memory until it commits,
/// so restoring a large snapshot in one transaction needs memory in
/// proportion to the state. A restore instead fills the other generation in
/// transactions of bounded size, then one last transaction makes it current
/// (with the new position) and empties the old one: a crash before that
/// leaves the old state current, and the half-filled generation is emptied
/// at the next open. Readers look the current generation up inside their own
/// read transaction, so they always see one generation whole.
///
/// LMDB refuses empty keys, and an empty key is a valid state key, so every
/// key is stored behind a tag byte: a key of at most 510 bytes as
/// `0x00 ‖ key`, as always; a longer one (LMDB's keys stop at 511 bytes) in
/// the chunk trie under `0x01` that `LongKeys` describes, in the same
/// generation database, so byte order, atomic batches and generations work
/// for long keys unchanged. Keys and values within `limits`
/// (`StateStoreLimits.cluster` unless opened otherwise) are held; a batch or
/// restore with anything larger is refused with `.invalidArgument` before
/// any of it is written.
///
/// # Where it syncs
/// At the commit of each `apply` (see `LMDBEnvironment`): with `sync` on,
/// fdatasync of data.mdb plus an O_DSYNC meta page write, counted 2. A
/// restore commits once per 16 MiB of pairs and once more to switch.
/// In `StateSyncMode.checkpoint` the backend puts a `WriteBackStateStore` in
/// front of this store, so applies commit here only at checkpoints: LMDB
/// cannot commit without a sync and stay safe from power loss.
final class LMDBStateStore: StateStore {
    static let keyPrefix: UInt8 = LongKeys.shortTag
    static let appliedKey = Array("applied".utf8)
    static let generationKey = Array("generation".utf8)
    /// Bytes of pairs a restore writes per transaction.
    static let restoreTransactionBytes = 16 << 20

    private let environment: LMDBEnvironment
    /// The databases of generation 0 and 1.
    private let generations: [MDB_dbi]
    private let meta: MDB_dbi
    /// Cached applied position; nil once closed. Held only for a moment.
    private let applied: Mutex<AppliedPosition?>
    /// Serialises mutating calls across the engine write and its fsync, so
    /// readers (who only glance at `applied`) never wait for the disk.
    private let writer = Mutex(())
    let limits: StateStoreLimits
    /// Pairs a snapshot reads ahead per step, and their bytes (past the first pair).
    static let snapshotBatch = (pairs: 256, bytes: 1 << 20)

    init(directory: String, mapSize: Int, sync: Bool, limits: StateStoreLimits = .cluster) throws {
        let environment = try LMDBEnvironment(directory: directory, mapSize: mapSize, sync: sync, maxDatabases: 3)
        do {
            guard environment.maxKeySize >= LongKeys.maxPhysicalKeyBytes else {
                throw StorageError.engine(
                    backend: LMDBError.backend,
                    message: "this liblmdb takes keys of at most \(environment.maxKeySize) bytes; the state store layout needs \(LongKeys.maxPhysicalKeyBytes)")
            }
            let (zero, one, meta) = try environment.write { txn in
                (try txn.openDatabase("state"), try txn.openDatabase("state-1"), try txn.openDatabase("meta"))
            }
            let generations = [zero, one]
            let position = try environment.read { txn in
                try LMDBStateStore.readPosition(txn, meta: meta, path: environment.dataPath)
            }
            // A restore interrupted before its switch left pairs in the other generation.
            try environment.write { txn in
                let current = try LMDBStateStore.readGeneration(txn, meta: meta, path: environment.dataPath)
                let other = generations[1 - current]
                if try txn.withCursor(other, { try $0.first() }) != nil { try txn.empty(other) }
            }
            self.environment = environment
            self.generations = generations
            self.meta = meta
            self.applied = Mutex(position)
            self.limits = limits
        } catch {
            try? environment.close()
            throw error
        }
    }

    static func readGeneration(_ txn: LMDBTransaction, meta: MDB_dbi, path: String) throws -> Int {
        guard let bytes = try txn.get(meta, generationKey) else { return 0 }
        guard bytes.count == 1, bytes[0] <= 1 else {
            throw StorageError.corrupted(path: path, reason: "the current generation is not 0 or 1")
        }
        return Int(bytes[0])
    }

    /// The database of the generation current in `txn`'s view.
    private func data(in txn: LMDBTransaction) throws -> MDB_dbi {
        generations[try Self.readGeneration(txn, meta: meta, path: environment.dataPath)]
    }

    static func readPosition(_ txn: LMDBTransaction, meta: MDB_dbi, path: String) throws -> AppliedPosition {
        try txn.get(meta, appliedKey).map { try PositionCodec.decode($0, source: "\(path) (applied position)") } ?? .zero
    }

    private func checkOpen() throws {
        guard applied.withLock({ $0 }) != nil else { throw StorageError.closed }
    }

    func get(_ key: Bytes) throws -> Bytes? {
        try checkOpen()
        return try environment.read { txn in
            let data = try data(in: txn)
            if LongKeys.isLong(key) { return try LongKeys.get(key, in: LMDBKeySpace(txn: txn, dbi: data)) }
            return try txn.get(data, LongKeys.shortKey(key))
        }
    }

    func scan(_ range: KeyRange, limit: Int) throws -> [KeyValue] {
        try checkOpen()
        guard limit > 0 else { return [] }
        return try environment.read { txn in
            try LMDBStateStore.scan(txn, try data(in: txn), range, limit: limit)
        }
    }

    /// Short keys from a cursor over `0x00 ‖ …` merged with the long keys of
    /// the trie (`LongKeys.scan`), in `txn`'s view of `data`.
    static func scan(
        _ txn: LMDBTransaction, _ data: MDB_dbi, _ range: KeyRange, limit: Int, maxBytes: Int = .max
    ) throws -> [KeyValue] {
        try txn.withCursor(data) { cursor in
            var short = ShortKeys(cursor: cursor, lower: range.lower)
            return try LongKeys.scan(
                range, limit: limit, maxBytes: maxBytes, shortKeys: &short, trie: LMDBKeySpace(txn: txn, dbi: data))
        }
    }

    /// Writes one operation into a generation database.
    private static func write(_ operation: WriteBatch.Operation, _ txn: LMDBTransaction, _ data: MDB_dbi) throws {
        switch operation {
        case .put(let key, let value):
            if LongKeys.isLong(key) {
                try LongKeys.put(key, value, in: LMDBKeySpace(txn: txn, dbi: data))
            } else {
                try txn.put(data, LongKeys.shortKey(key), value)
            }
        case .delete(let key):
            if LongKeys.isLong(key) {
                try LongKeys.delete(key, in: LMDBKeySpace(txn: txn, dbi: data))
            } else {
                try txn.delete(data, LongKeys.shortKey(key))
            }
        }
    }

    func apply(_ batch: WriteBatch, through position: AppliedPosition) throws {
        try writer.withLock { _ in
            let current = try appliedPosition()
            guard position >= current else {
                throw StorageError.invalidArgument(
                    "applied position \(position.index) is below the current position \(current.index)")
            }
            try limits.check(batch)
            try environment.write { txn in
                let data = try data(in: txn)
                for operation in batch.operations { try LMDBStateStore.write(operation, txn, data) }
                try txn.put(meta, LMDBStateStore.appliedKey, PositionCodec.encode(position))
            }
            applied.withLock { if $0 != nil { $0 = position } }
        }
    }

    func appliedPosition() throws -> AppliedPosition {
        guard let position = applied.withLock({ $0 }) else { throw StorageError.closed }
        return position
    }

    /// Every commit is already as durable as `sync` makes it.
    func checkpoint() throws -> AppliedPosition {
        try appliedPosition()
    }

    func snapshot() throws -> any StateSnapshot {
        try checkOpen()
        let path = environment.dataPath
        let (reader, position) = try environment.openReader { txn in
            (try LMDBStateStore.readPosition(txn, meta: meta, path: path), try data(in: txn))
        }
        return LMDBStateSnapshot(environment: environment, reader: reader, position: position)
    }

    /// Fills the other generation in transactions of about
    /// `restoreTransactionBytes`, then switches to it with the new position
    /// and empties the old one in one last transaction: a crash or an error
    /// before the switch (a full map, a failing source) leaves the old state.
    func restore(from source: inout some KeyValueSource, position: AppliedPosition) throws {
        try writer.withLock { _ in
            _ = try appliedPosition()
            let path = environment.dataPath
            let current = try environment.read { txn in try LMDBStateStore.readGeneration(txn, meta: meta, path: path) }
            let target = generations[1 - current]
            try environment.write { txn in try txn.empty(target) }
            // The source is read between transactions, so a large snapshot
            // streams instead of being held in memory.
            var previous: Bytes?
            var finished = false
            // Short keys are appended (MDB_APPEND) until the first long key
            // puts trie entries, which sort after every 0x00 key, in the target.
            var trieStarted = false
            while !finished {
                try environment.write { txn in
                    var bytes = 0
                    while bytes < LMDBStateStore.restoreTransactionBytes {
                        guard let pair = try source.next() else {
                            finished = true
                            return
                        }
                        try RestoreOrder.check(pair.key, after: previous)
                        try limits.check(key: pair.key, value: pair.value)
                        if LongKeys.isLong(pair.key) {
                            try LongKeys.put(pair.key, pair.value, in: LMDBKeySpace(txn: txn, dbi: target))
                            trieStarted = true
                        } else {
                            try txn.put(target, LongKeys.shortKey(pair.key), pair.value, append: !trieStarted)
                        }
                        previous = pair.key
                        bytes += pair.key.count + pair.value.count
                    }
                }
            }
            try environment.write { txn in
                try txn.put(meta, LMDBStateStore.generationKey, [UInt8(1 - current)])
                try txn.put(meta, LMDBStateStore.appliedKey, PositionCodec.encode(position))
                try txn.empty(generations[current])
            }
            applied.withLock { if $0 != nil { $0 = position } }
        }
    }

    var syncCount: UInt64 { environment.syncs.value }

    /// Every physical key of the current generation, in order (for tests
    /// that check the layout on disk).
    func physicalKeys() throws -> [Bytes] {
        try checkOpen()
        return try environment.read { txn in
            try txn.withCursor(try data(in: txn)) { cursor in
                var keys: [Bytes] = []
                var pair = try cursor.first()
                while let found = pair {
                    keys.append(found.key)
                    pair = try cursor.next()
                }
                return keys
            }
        }
    }

    func close() throws {
        try writer.withLock { _ in
            applied.withLock { $0 = nil }
            try environment.close()
        }
    }
}

/// One generation database inside one transaction, as the ordered key space
/// `LongKeys` keeps its trie in. A write transaction sees its own writes.
struct LMDBKeySpace: OrderedKeySpace {
    let txn: LMDBTransaction
    let dbi: MDB_dbi

    func get(_ key: Bytes) throws -> Bytes? { try txn.get(dbi, key) }
    func seek(_ key: Bytes) throws -> KeyValue? { try txn.withCursor(dbi) { try $0.seek(key) } }
    func put(_ key: Bytes, _ value: Bytes) throws { try txn.put(dbi, key, value) }
    func delete(_ key: Bytes) throws { try txn.delete(dbi, key) }
}

/// The short keys of a generation database from a lower bound on, in order,
/// without their tag: a cursor from `0x00 ‖ lower` (cut to the longest short
/// key; `LongKeys.scan` drops what that lets in early) until the first key
/// without the short tag.
struct ShortKeys: KeyValueSource {
    let cursor: LMDBCursor
    let lower: Bytes
    private var started = false
    private var finished = false

    init(cursor: LMDBCursor, lower: Bytes) {
        self.cursor = cursor
        self.lower = lower
    }

    mutating func next() throws -> KeyValue? {
        guard !finished else { return nil }
        let found: KeyValue?
        if started {
            found = try cursor.next()
        } else {
            started = true
            found = try cursor.seek(LongKeys.shortKey(Array(lower.prefix(LongKeys.maxShortKeyBytes))))
        }
        guard let found, found.key.first == LongKeys.shortTag else {
            finished = true
            return nil
        }
        return KeyValue(key: Array(found.key.dropFirst()), value: found.value)
    }
}
