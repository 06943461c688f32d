import StorageCore

/// A `StateStore` whose values are sealed (AES-256-GCM) before they reach
/// the store underneath; keys stay in the clear so that ordered scans,
/// prefixes and ranges keep working on any backend.
///
/// Each value is sealed with its key as associated data: a value moved under
/// another key, altered, or sealed with another key is reported as
/// `StorageError.corrupted`, never returned. Snapshots open values as they
/// are read and `restore` seals them as they arrive, one pair at a time, so
/// a state of any size streams through without being held in memory.
/// Snapshot data staged on disk before a restore is sealed too
/// (`stagingSealer`).
///
/// Keys pass through unchanged; a sealed value is `RecordSealer.overhead`
/// (29) bytes longer than the plain one. So this store holds `limits`
/// (checked here, before anything is sealed) and opens the store underneath
/// with values that much larger (`EncryptedBackend.innerLimits`): any pair
/// within the cluster limits still fits underneath.
final class EncryptedStateStore: StateStore {
    private let inner: any StateStore
    private let sealer: RecordSealer
    private let directory: String
    let limits: StateStoreLimits

    init(inner: any StateStore, sealer: RecordSealer, directory: String, limits: StateStoreLimits = .cluster) {
        self.inner = inner
        self.sealer = sealer
        self.directory = directory
        self.limits = limits
    }

    func get(_ key: Bytes) throws -> Bytes? {
        try inner.get(key).map { try open($0, key: key) }
    }

    func scan(_ range: KeyRange, limit: Int) throws -> [KeyValue] {
        try inner.scan(range, limit: limit).map { KeyValue(key: $0.key, value: try open($0.value, key: $0.key)) }
    }

    func apply(_ batch: WriteBatch, through position: AppliedPosition) throws {
        try limits.check(batch)
        var sealed = WriteBatch()
        for operation in batch.operations {
            switch operation {
            case let .put(key, value): sealed.put(key, try sealer.seal(value, context: RecordSealer.stateContext(key)))
            case let .delete(key): sealed.delete(key)
            }
        }
        try inner.apply(sealed, through: position)
    }

    func appliedPosition() throws -> AppliedPosition { try inner.appliedPosition() }

    @discardableResult
    func checkpoint() throws -> AppliedPosition { try inner.checkpoint() }

    func snapshot() throws -> any StateSnapshot {
        EncryptedSnapshot(inner: try inner.snapshot(), store: self)
    }

    func restore(from source: inout some KeyValueSource, position: AppliedPosition) throws {
        var sealing = SealingSource(base: source, sealer: sealer, limits: limits)
        defer { source = sealing.base }
        try inner.restore(from: &sealing, position: position)
    }

    var syncCount: UInt64 { inner.syncCount }

    var stagingSealer: (any StagingSealer)? { StagingRecordSealer(sealer: sealer, directory: directory) }

    func close() throws {
        try inner.close()
        try sealer.counter?.close()
    }

    fileprivate func open(_ value: Bytes, key: Bytes) throws -> Bytes {
        do {
            return try sealer.open(value, context: RecordSealer.stateContext(key))
        } catch {
            throw StorageError.corrupted(path: directory, reason: "the value of key \(RecordSealer.describe(key)): \(error.reason)")
        }
    }
}

/// A snapshot of the store underneath, opened pair by pair.
private final class EncryptedSnapshot: StateSnapshot {
    private let inner: any StateSnapshot
    private let store: EncryptedStateStore

    init(inner: any StateSnapshot, store: EncryptedStateStore) {
        self.inner = inner
        self.store = store
    }

    var position: AppliedPosition { inner.position }

    func next() throws -> KeyValue? {
        guard let pair = try inner.next() else { return nil }
        return KeyValue(key: pair.key, value: try store.open(pair.value, key: pair.key))
    }

    func close() { inner.close() }
}

/// Seals the values of `base` as the store underneath reads them.
private struct SealingSource<Base: KeyValueSource>: KeyValueSource {
    var base: Base
    let sealer: RecordSealer
    let limits: StateStoreLimits

    mutating func next() throws -> KeyValue? {
        guard let pair = try base.next() else { return nil }
        try limits.check(key: pair.key, value: pair.value)
        return KeyValue(key: pair.key, value: try sealer.seal(pair.value, context: RecordSealer.stateContext(pair.key)))
    }
}
