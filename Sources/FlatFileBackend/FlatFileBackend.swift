import StorageCore

/// The `flatfile` backend: one file per log entry and one file per state item,
/// the layout of the original simulator (which wrote each item as its own JSON
/// file), kept as the baseline the database backends are measured against.
///
/// Every record uses the shared codecs of StorageCore (`LogEntryCodec`,
/// `HardStateCodec`, `PositionCodec`, `Checksummed`), so a torn or damaged
/// file is reported as `StorageError.corrupted` exactly as in the other disk
/// backends. Atomicity comes from commit points that are a single rename:
/// the log's `hardstate` record (`FlatFileLogStore`), the state store's batch
/// journal and its `CURRENT` pointer (`FlatFileStateStore`).
///
/// Where flatfile syncs (with `sync` on): every file it creates is
/// fdatasync'ed before anything depends on it, and the directory is fsync'ed
/// before a commit record is renamed into place and again after it. A log
/// append of N entries costs N + 3 syncs (one fdatasync per entry file, one
/// directory fsync, then fdatasync and directory fsync of the `hardstate`
/// record); saving the hard state alone, truncating or compacting cost 2. A
/// state batch with P puts costs P + 4 (journal fdatasync and directory fsync,
/// one fdatasync per item file and one for `applied`, a final directory fsync
/// before the journal is removed); deletes add nothing. A restore of K items
/// costs K + 5. Snapshots are hard links and are never synced. With `sync`
/// off nothing is synced, and the same write order still survives SIGKILL.
/// In `StateSyncMode.checkpoint` (the default) a `WriteBackStateStore` holds
/// the state store's applies in memory, so one such batch is written per
/// checkpoint rather than per apply.
///
/// It has no settings.
public struct FlatFileBackend: StorageBackend {
    static let backendName = "flatfile"

    public init() {}

    public var name: String { Self.backendName }

    public func openLogStore(_ options: StoreOptions) throws -> any LogStore {
        try checkSettings(options)
        return try FlatFileLogStore(options)
    }

    public func openStateStore(_ options: StoreOptions) throws -> any StateStore {
        try checkSettings(options)
        let store = try FlatFileStateStore(options)
        // Files written without syncs reach the disk in no particular order,
        // so in checkpoint mode applies wait in memory and are written
        // (synced, through the batch journal) together at each checkpoint.
        return options.sync && options.stateSync == .checkpoint ? WriteBackStateStore(wrapping: store) : store
    }
}
