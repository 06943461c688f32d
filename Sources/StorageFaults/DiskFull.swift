import StorageCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A switch that makes stores behave as on a full disk: while it is on,
/// every call that writes fails with `ENOSPC` before it reaches the store
/// underneath (so nothing is half-written, as with a write the kernel
/// refused), and reads go on. Turning it off is the space coming back.
///
/// A fault hook at the storage seam rather than a small file system: it
/// fails the same calls at the same point on every backend, deterministically,
/// and tests can run it without mount privileges.
public final class DiskFullSwitch: Sendable {
    private let full = Mutex(false)
    private let refused = Mutex(0)

    public init() {}

    public var isFull: Bool {
        get { full.withLock { $0 } }
        set { full.withLock { $0 = newValue } }
    }

    /// Writes refused so far.
    public var refusedWrites: Int { refused.withLock { $0 } }

    func check(_ operation: String) throws {
        guard full.withLock({ $0 }) else { return }
        refused.withLock { $0 += 1 }
        throw StorageError.io(operation: operation, path: "(disk-full fault)", errno: ENOSPC)
    }
}

/// A `LogStore` whose writes fail while its `DiskFullSwitch` is on.
public final class DiskFullLogStore: LogStore {
    private let store: any LogStore
    private let disk: DiskFullSwitch

    public init(_ store: any LogStore, disk: DiskFullSwitch) {
        self.store = store
        self.disk = disk
    }

    public func snapshotIndex() throws -> UInt64 { try store.snapshotIndex() }
    public func firstIndex() throws -> UInt64 { try store.firstIndex() }
    public func lastIndex() throws -> UInt64 { try store.lastIndex() }
    public func term(at index: UInt64) throws -> UInt64 { try store.term(at: index) }
    public func entries(_ range: ClosedRange<UInt64>, maxBytes: Int) throws -> [LogEntry] {
        try store.entries(range, maxBytes: maxBytes)
    }
    public func hardState() throws -> HardState { try store.hardState() }

    public func append(_ entries: [LogEntry], hardState: HardState?) throws {
        try disk.check("log append")
        try store.append(entries, hardState: hardState)
    }

    public func truncateSuffix(after index: UInt64) throws {
        try disk.check("log truncate")
        try store.truncateSuffix(after: index)
    }

    public func compact(through index: UInt64, term: UInt64) throws {
        try disk.check("log compact")
        try store.compact(through: index, term: term)
    }

    public var syncCount: UInt64 { store.syncCount }
    public func close() throws { try store.close() }
}

/// A `StateStore` whose writes fail while its `DiskFullSwitch` is on.
public final class DiskFullStateStore: StateStore {
    private let store: any StateStore
    private let disk: DiskFullSwitch

    public init(_ store: any StateStore, disk: DiskFullSwitch) {
        self.store = store
        self.disk = disk
    }

    public func get(_ key: Bytes) throws -> Bytes? { try store.get(key) }
    public func scan(_ range: KeyRange, limit: Int) throws -> [KeyValue] { try store.scan(range, limit: limit) }
    public func appliedPosition() throws -> AppliedPosition { try store.appliedPosition() }
    public func snapshot() throws -> any StateSnapshot { try store.snapshot() }

    public func apply(_ batch: WriteBatch, through position: AppliedPosition) throws {
        try disk.check("state apply")
        try store.apply(batch, through: position)
    }

    public func checkpoint() throws -> AppliedPosition {
        try disk.check("state checkpoint")
        return try store.checkpoint()
    }

    public func restore(from source: inout some KeyValueSource, position: AppliedPosition) throws {
        try disk.check("state restore")
        try store.restore(from: &source, position: position)
    }

    public var syncCount: UInt64 { store.syncCount }
    public var limits: StateStoreLimits { store.limits }
    public var stagingSealer: (any StagingSealer)? { store.stagingSealer }
    public func close() throws { try store.close() }
}
