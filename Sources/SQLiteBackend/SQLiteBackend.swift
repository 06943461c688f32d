import StorageCore

/// SQLite: the embedded SQL database rqlite, dqlite and LiteFS replicate,
/// through the system libsqlite3. One database file per store directory
/// (`log.db` or `state.db`) in WAL journal mode, so it sits beside its
/// `-wal` and `-shm` files while open. Each mutating call is one transaction;
/// prepared statements are compiled once per connection and reused.
///
/// # Where it syncs
/// See `SQLiteDatabase`: with sync on, every log store call and every state
/// apply in `StateSyncMode.always` commits with `synchronous=FULL` (1
/// fdatasync of the `-wal`); state applies in checkpoint mode commit with
/// `synchronous=NORMAL` (no sync, a prefix of whole transactions survives
/// power loss), and `checkpoint()` commits once with FULL, syncing them all.
/// SQLite's own WAL checkpoints add 2 syncs every `checkpoint_pages` frames.
/// With sync off every commit uses NORMAL.
public struct SQLiteBackend: StorageBackend {
    public init() {}

    public var name: String { "sqlite" }

    public var settingsHelp: [String: String] {
        [
            "cache_size": "Bytes of database pages each connection caches (default 2048000, SQLite's default).",
            "checkpoint_pages":
                "Pages the -wal file may hold before they are copied back into the database file "
                + "(default 1000, SQLite's default); more means fewer, longer checkpoints and a bigger -wal.",
        ]
    }

    public func openLogStore(_ options: StoreOptions) throws -> any LogStore {
        let settings = try prepare(options, kind: .log)
        return try KeyValueLogStore(engine: SQLiteLogEngine(directory: options.directory, sync: options.sync, settings: settings))
    }

    public func openStateStore(_ options: StoreOptions) throws -> any StateStore {
        let settings = try prepare(options, kind: .state)
        return try SQLiteStateStore(
            directory: options.directory, sync: options.sync, stateSync: options.stateSync, settings: settings,
            limits: options.stateLimits)
    }

    private func prepare(_ options: StoreOptions, kind: StoreDirectory.Kind) throws -> SQLiteSettings {
        try checkSettings(options)
        let settings = try Self.parse(options.settings)
        try StoreDirectory.prepare(options.directory, backend: name, kind: kind, sync: options.sync)
        return settings
    }

    static func parse(_ settings: [String: String]) throws -> SQLiteSettings {
        var parsed = SQLiteSettings()
        if let text = settings["cache_size"] {
            guard let bytes = Int(text), bytes >= 1024 else {
                throw StorageError.invalidArgument("sqlite setting cache_size must be a number of bytes of at least 1024, got '\(text)'")
            }
            parsed.cacheKiB = bytes / 1024
        }
        if let text = settings["checkpoint_pages"] {
            guard let pages = Int32(text), pages > 0 else {
                throw StorageError.invalidArgument("sqlite setting checkpoint_pages must be a positive number of pages, got '\(text)'")
            }
            parsed.checkpointFrames = pages
        }
        return parsed
    }
}
