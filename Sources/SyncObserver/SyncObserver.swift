import CSyncObserver

/// Sync system calls this process made, as the kernel saw them requested:
/// counted where the C library's wrappers are entered (see the
/// `CSyncObserver` target), including calls made inside liblmdb, libleveldb
/// and any other shared library. A backend's own sync counter says what it
/// meant to do; these counts say what it did.
public struct SyncCounts: Sendable, Hashable, Codable {
    /// fsync(2) calls that succeeded.
    public var fsync: UInt64
    /// fdatasync(2) calls that succeeded.
    public var fdatasync: UInt64
    /// msync(2) with MS_SYNC.
    public var msync: UInt64
    /// sync_file_range(2): writeback requests, not durability points (they
    /// flush neither metadata nor the disk's write cache), so they are not
    /// part of `durableSyncs`.
    public var syncFileRange: UInt64
    /// Writes through descriptors opened with O_SYNC or O_DSYNC, each of which
    /// returns only once the data is durable.
    public var syncWrites: UInt64

    public init(fsync: UInt64 = 0, fdatasync: UInt64 = 0, msync: UInt64 = 0, syncFileRange: UInt64 = 0, syncWrites: UInt64 = 0) {
        self.fsync = fsync
        self.fdatasync = fdatasync
        self.msync = msync
        self.syncFileRange = syncFileRange
        self.syncWrites = syncWrites
    }

    /// Every point at which the caller waited for the disk: fsync, fdatasync,
    /// msync(MS_SYNC) and synchronous writes.
    public var durableSyncs: UInt64 { fsync + fdatasync + msync + syncWrites }

    public static func + (a: Self, b: Self) -> Self {
        SyncCounts(
            fsync: a.fsync + b.fsync, fdatasync: a.fdatasync + b.fdatasync, msync: a.msync + b.msync,
            syncFileRange: a.syncFileRange + b.syncFileRange, syncWrites: a.syncWrites + b.syncWrites)
    }

    /// What happened between `earlier` and these counts (counters only grow;
    /// a smaller value, from a restarted process, counts from zero).
    public func since(_ earlier: Self) -> Self {
        func delta(_ now: UInt64, _ then: UInt64) -> UInt64 { now >= then ? now - then : now }
        return SyncCounts(
            fsync: delta(fsync, earlier.fsync), fdatasync: delta(fdatasync, earlier.fdatasync),
            msync: delta(msync, earlier.msync), syncFileRange: delta(syncFileRange, earlier.syncFileRange),
            syncWrites: delta(syncWrites, earlier.syncWrites))
    }

    enum CodingKeys: String, CodingKey {
        case fsync, fdatasync, msync
        case syncFileRange = "sync_file_range"
        case syncWrites = "sync_writes"
    }

    init(_ raw: raftlab_sync_counts) {
        self.init(
            fsync: raw.fsync_calls, fdatasync: raw.fdatasync_calls, msync: raw.msync_calls,
            syncFileRange: raw.sync_file_range_calls, syncWrites: raw.sync_writes)
    }
}

public enum SyncObserver {
    /// Whether calls made inside shared libraries are observed: true when
    /// this executable exports the interposed functions, so the dynamic
    /// linker binds every library's calls to them. When false, only calls
    /// compiled into this executable are counted, and counts are not to be
    /// trusted as a measurement.
    public static var isActive: Bool { raftlab_sync_observer_active() == 1 }

    /// Everything this process synced since it started.
    public static var processCounts: SyncCounts {
        var raw = raftlab_sync_counts()
        raftlab_sync_read(-1, &raw)
        return SyncCounts(raw)
    }
}

/// Counts the syncs of files inside one directory (a node's data
/// directory), attributed by the path each descriptor refers to. Counting
/// stops when the watch is released or `stop()` is called.
public final class SyncWatch: Sendable {
    public let directory: String
    private let id: Int32

    /// Nil when every watch slot (256) is taken or the path is too long.
    /// `directory` should exist, so that symbolic links in it resolve.
    public init?(directory: String) {
        let id = raftlab_sync_watch(directory)
        guard id >= 0 else { return nil }
        self.directory = directory
        self.id = id
    }

    /// Syncs of files in the directory since the watch began.
    public var counts: SyncCounts {
        var raw = raftlab_sync_counts()
        raftlab_sync_read(id, &raw)
        return SyncCounts(raw)
    }

    deinit { raftlab_sync_unwatch(id) }
}
