import StorageCore

/// LMDB (Lightning Memory-Mapped Database): a copy-on-write B+tree in one
/// memory-mapped file per store directory (data.mdb, plus lock.mdb for the
/// reader table). Reads come straight from the map; each mutating call is one
/// write transaction.
///
/// # Where it syncs
/// Only at commit. With `sync` on, each commit that changed something does an
/// fdatasync of data.mdb and then writes the meta page through an O_DSYNC
/// descriptor: 2 syncs, counted in `syncCount`. Every log store call commits;
/// a state store in checkpoint mode commits once per checkpoint, its applies
/// buffered in memory until then (`WriteBackStateStore`). With `sync` off the
/// environment uses MDB_NOSYNC: a commit survives SIGKILL (its pages are in
/// the OS page cache) but not power loss.
public struct LMDBBackend: StorageBackend {
    /// LMDB never grows the map by itself, so it is sized generously: it only
    /// reserves address space, the file grows as data arrives.
    public static let defaultMapSize = 1 << 30

    public init() {}

    public var name: String { "lmdb" }

    public var settingsHelp: [String: String] {
        [
            "map_size":
                "Largest size the data file may reach, in bytes (default \(Self.defaultMapSize), 1 GiB). "
                + "Only address space is reserved; writes past it fail with a 'full' error.",
        ]
    }

    public func openLogStore(_ options: StoreOptions) throws -> any LogStore {
        let mapSize = try prepare(options, kind: .log)
        return try KeyValueLogStore(engine: LMDBLogEngine(directory: options.directory, mapSize: mapSize, sync: options.sync))
    }

    public func openStateStore(_ options: StoreOptions) throws -> any StateStore {
        let mapSize = try prepare(options, kind: .state)
        let store = try LMDBStateStore(
            directory: options.directory, mapSize: mapSize, sync: options.sync, limits: options.stateLimits)
        // MDB_NOSYNC commits may corrupt the database on power loss, so in
        // checkpoint mode applies wait in memory and commit (synced) together.
        guard options.sync, options.stateSync == .checkpoint else { return store }
        // The buffer checks the store's limits at apply time (LMDB holds any
        // key within them through the long-key layout), so a checkpoint never
        // meets a write the store refuses.
        return WriteBackStateStore(wrapping: store)
    }

    private func prepare(_ options: StoreOptions, kind: StoreDirectory.Kind) throws -> Int {
        try checkSettings(options)
        let mapSize = try Self.mapSize(options.settings)
        try StoreDirectory.prepare(options.directory, backend: name, kind: kind, sync: options.sync)
        return mapSize
    }

    static func mapSize(_ settings: [String: String]) throws -> Int {
        guard let text = settings["map_size"] else { return defaultMapSize }
        guard let size = Int(text), size > 0 else {
            throw StorageError.invalidArgument("lmdb setting map_size must be a positive number of bytes, got '\(text)'")
        }
        return size
    }
}
