import CLMDB
import StorageCore
import Synchronization

/// The state machine's key-value pairs in one LMDB environment: named database
/// "state" holds the pairs, "meta" the applied position, and each `apply` is
/// one write transaction covering both, which is the atomicity the contract
/// asks for. LMDB orders keys with memcmp then length, which is unsigned
/// byte order.
///
/// LMDB refuses empty keys, and an empty key is a valid state key, so every
/// key is stored behind one `keyPrefix` byte. That leaves user keys at most
/// `maxKeySize - 1` (510) bytes; longer ones are refused with `.invalidArgument`.
///
/// # Where it syncs
/// At the commit of each `apply` and `restore` (see `LMDBEnvironment`): with
/// `sync` on, fdatasync of data.mdb plus an O_DSYNC meta page write, counted 2.
/// In `StateSyncMode.checkpoint` the backend puts a `WriteBackStateStore` in
/// front of this store, so applies commit here only at checkpoints: LMDB
/// cannot commit without a sync and stay safe from power loss.
final class LMDBStateStore: StateStore {
    static let keyPrefix: UInt8 = 0x00
    static let appliedKey = Array("applied".utf8)

    private let environment: LMDBEnvironment
    private let data: MDB_dbi
    private let meta: MDB_dbi
    /// Cached applied position; nil once closed. Held only for a moment.
    private let applied: Mutex<AppliedPosition?>
    /// Serialises mutating calls across the engine write and its fsync, so
    /// readers (who only glance at `applied`) never wait for the disk.
    private let writer = Mutex(())

    init(directory: String, mapSize: Int, sync: Bool) throws {
        let environment = try LMDBEnvironment(directory: directory, mapSize: mapSize, sync: sync, maxDatabases: 2)
        do {
            let (data, meta) = try environment.write { txn in
                (try txn.openDatabase("state"), try txn.openDatabase("meta"))
            }
            let position = try environment.read { txn in
                try LMDBStateStore.readPosition(txn, meta: meta, path: environment.dataPath)
            }
            self.environment = environment
            self.data = data
            self.meta = meta
            self.applied = Mutex(position)
        } catch {
            try? environment.close()
            throw error
        }
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
        return try environment.read { txn in try txn.get(data, storedKey(key)) }
    }

    func scan(_ range: KeyRange, limit: Int) throws -> [KeyValue] {
        try checkOpen()
        guard limit > 0 else { return [] }
        let path = environment.dataPath
        // A lower bound too long to seek to is cut short; the keys it lets in
        // early are skipped below.
        let seekKey = storedKey(Array(range.lower.prefix(environment.maxKeySize - 1)))
        return try environment.read { txn in
            try txn.withCursor(data) { cursor in
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
        let (reader, position) = try environment.openReader(over: data) { txn in
            try LMDBStateStore.readPosition(txn, meta: meta, path: path)
        }
        return LMDBStateSnapshot(environment: environment, reader: reader, position: position)
    }

    /// Empties the database and writes every pair in one write transaction:
    /// a crash or an error midway (a full map, a failing source) leaves the old
    /// state, because the transaction is aborted or never committed.
    func restore(from source: inout some KeyValueSource, position: AppliedPosition) throws {
        try writer.withLock { _ in
            _ = try appliedPosition()
            // The source is read inside the write transaction so a large
            // snapshot streams instead of being held in memory.
            try environment.write { txn in
                try txn.empty(data)
                var previous: Bytes?
                while let pair = try source.next() {
                    try RestoreOrder.check(pair.key, after: previous)
                    try checkKey(pair.key)
                    try txn.put(data, storedKey(pair.key), pair.value)
                    previous = pair.key
                }
                try txn.put(meta, LMDBStateStore.appliedKey, PositionCodec.encode(position))
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
