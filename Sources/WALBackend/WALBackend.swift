import StorageCore

/// `wal`: a write-ahead log written for the Raft log alone, as etcd's wal
/// package and hashicorp's raft-wal are. It provides only a `LogStore`; pair
/// it with any state backend (`log = "wal"`, `state = "lmdb"`).
///
/// A store directory holds numbered segment files (`0000000000000001.seg`, ...),
/// each created at its full size and zero-filled ahead of the writer, and a
/// small `meta` file with the compaction point, the first live segment and the
/// hard state as of the last compaction. Each mutating call appends one
/// checksummed frame to the active segment (see `WALFrame`); an in-memory
/// index maps each live log index to its term and its place on disk.
///
/// # Where it syncs
/// With `sync` on:
/// - `append` (entries and/or hard state) and `truncateSuffix`: one frame
///   written into the preallocated, already zero-filled segment (one `pwrite`
///   per page it touches, see `SegmentFile`), then one `fdatasync` of that
///   segment: 1 sync. Because the blocks are allocated and
///   written before, and the file size never changes, that fdatasync flushes
///   data only, no inode or extent metadata. Once per `zeroFillStep` (1 MiB)
///   of log the same call also writes the next stretch of zeros, which that
///   fdatasync carries too.
/// - Rolling over to a new segment: the new file is created, `fallocate`d,
///   given its header and first zero-filled stretch, fdatasynced, and its
///   directory fsynced (2 syncs) before the frame goes in.
/// - `compact`: the `meta` file is replaced atomically (write a temporary,
///   fdatasync, rename, fsync the directory: 2 syncs); segments wholly before
///   the compaction point are then unlinked (no sync needed: `meta` names the
///   first live segment, and older ones are ignored and removed at open).
///
/// With `sync` off nothing is synced until `close` (one fdatasync of the
/// active segment): every call still reaches the page cache before it returns,
/// so it survives SIGKILL, not power loss.
public struct WALBackend: StorageBackend {
    public static let defaultSegmentSize = 16 << 20
    public static let minimumSegmentSize = 64 << 10
    public static let maximumSegmentSize = 1 << 30

    public init() {}

    public var name: String { "wal" }

    public var kinds: Set<StoreKind> { [.log] }

    public var settingsHelp: [String: String] {
        [
            "segment_size":
                "Bytes each segment file is preallocated to (default \(Self.defaultSegmentSize), 16 MiB; "
                + "between \(Self.minimumSegmentSize) and \(Self.maximumSegmentSize), rounded up to 4 KiB). "
                + "Compaction deletes whole segments, so smaller segments free disk space sooner; "
                + "a frame larger than a segment gets a segment of its own size.",
        ]
    }

    public func openLogStore(_ options: StoreOptions) throws -> any LogStore {
        try checkSettings(options)
        let segmentSize = try Self.segmentSize(options.settings)
        try StoreDirectory.prepare(options.directory, backend: name, kind: .log, sync: options.sync)
        return try WALLogStore(directory: options.directory, sync: options.sync, segmentSize: segmentSize)
    }

    /// The registry never calls this (`kinds` has no `.state`); a caller
    /// holding the backend directly gets the same refusal.
    public func openStateStore(_ options: StoreOptions) throws -> any StateStore {
        throw StorageError.unsupportedStore(backend: name, kind: .state, providers: [])
    }

    static func segmentSize(_ settings: [String: String]) throws -> Int {
        guard let text = settings["segment_size"] else { return defaultSegmentSize }
        guard let size = Int(text), (minimumSegmentSize...maximumSegmentSize).contains(size) else {
            throw StorageError.invalidArgument(
                "wal setting segment_size must be a number of bytes between \(minimumSegmentSize) "
                    + "and \(maximumSegmentSize), got '\(text)'")
        }
        return (size + 4095) / 4096 * 4096
    }
}
