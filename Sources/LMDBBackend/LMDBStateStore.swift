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
/// key is stored behind one `keyPrefix` byte. That leaves user keys at most
/// `maxKeySize - 1` (510) bytes; longer ones are refused with `.invalidArgument`.
///
/// # Where it syncs
/// At the commit of each `apply` (see `LMDBEnvironment`): with `sync` on,
/// fdatasync of data.mdb plus an O_DSYNC meta page write, counted 2. A
/// restore commits once per 16 MiB of pairs and once more to switch.
/// In `StateSyncMode.checkpoint` the backend puts a `WriteBackStateStore` in
/// front of this store, so applies commit here only at checkpoints: LMDB
/// cannot commit without a sync and stay safe from power loss.
final class LMDBStateStore: StateStore {
    static let keyPrefix: UInt8 = 0x00
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

    init(directory: String, mapSize: Int, sync: Bool) throws {
        let environment = try LMDBEnvironment(directory: directory, mapSize: mapSize, sync: sync, maxDatabases: 3)
        do {
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

    private func storedKey(_ key: Bytes) -> Bytes { [LMDBStateStore.keyPrefix] + key }

    func checkKey(_ key: Bytes) throws {
        guard key.count < environment.maxKeySize else {
            throw StorageError.invalidArgument(
                "key of \(key.count) bytes is longer than the lmdb backend allows (\(environment.maxKeySize - 1) bytes)")
        }
    }

    private func checkOpen() throws {
        guard applied.withLock({ $0 }) != nil else { throw StorageError.closed }
    }

    func get(_ key: Bytes) throws -> Bytes? {
        try checkOpen()
        // A key too long to store cannot be present.
        guard key.count < environment.maxKeySize else { return nil }
        return try environment.read { txn in try txn.get(try data(in: txn), storedKey(key)) }
    }

    func scan(_ range: KeyRange, limit: Int) throws -> [KeyValue] {
        try checkOpen()
        guard limit > 0 else { return [] }
        let path = environment.dataPath
        // A lower bound too long to seek to is cut short; the keys it lets in
        // early are skipped below.
        let seekKey = storedKey(Array(range.lower.prefix(environment.maxKeySize - 1)))
        return try environment.read { txn in
            try txn.withCursor(try data(in: txn)) { cursor in
                var pairs: [KeyValue] = []
                var pair = try cursor.seek(seekKey)
                while let found = pair, pairs.count < limit {
                    let key = try LMDBStateStore.userKey(found.key, path: path)
                    if range.isPastEnd(key) { break }
                    if range.contains(key) { pairs.append(KeyValue(key: key, value: found.value)) }
                    pair = try cursor.next()
                }
                return pairs
            }
        }
    }

    static func userKey(_ stored: Bytes, path: String) throws -> Bytes {
        guard stored.first == keyPrefix else {
            throw StorageError.corrupted(path: path, reason: "state key without its prefix byte")
        }
        return Array(stored.dropFirst())
    }

    func apply(_ batch: WriteBatch, through position: AppliedPosition) throws {
        try writer.withLock { _ in
            let current = try appliedPosition()
            guard position >= current else {
                throw StorageError.invalidArgument(
                    "applied position \(position.index) is below the current position \(current.index)")
            }
            for operation in batch.operations { try checkKey(operation.key) }
            try environment.write { txn in
                let data = try data(in: txn)
                for operation in batch.operations {
                    switch operation {
                    case .put(let key, let value): try txn.put(data, storedKey(key), value)
                    case .delete(let key): try txn.delete(data, storedKey(key))
                    }
                }
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
            while !finished {
                try environment.write { txn in
                    var bytes = 0
                    while bytes < LMDBStateStore.restoreTransactionBytes {
                        guard let pair = try source.next() else {
                            finished = true
                            return
                        }
                        try RestoreOrder.check(pair.key, after: previous)
                        try checkKey(pair.key)
                        try txn.put(target, storedKey(pair.key), pair.value, append: true)
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

    func close() throws {
        try writer.withLock { _ in
            applied.withLock { $0 = nil }
            try environment.close()
        }
    }
}
