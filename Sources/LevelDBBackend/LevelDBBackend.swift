import StorageCore

/// LevelDB: a log-structured merge tree in one directory per store (CURRENT,
/// MANIFEST-*, a write-ahead .log and sorted .ldb tables). Each mutating call
/// is one WriteBatch, LevelDB's unit of atomicity.
///
/// # Where it syncs
/// In `leveldb_write` with sync=1, once per durable call: the batch is
/// appended to the .log file as one record and fdatasynced, counted as 1 sync.
/// Every log store call is durable; a state store's applies are written with
/// sync=0 in checkpoint mode and made durable by its next checkpoint (see
/// `LevelDBStateStore`).
/// Memtable flushes and compactions sync their own files in LevelDB's
/// background thread, off the write path, and are not counted. With `sync`
/// off each record is still written to the .log file before the call returns,
/// so it survives SIGKILL but not power loss.
public struct LevelDBBackend: StorageBackend {
    public init() {}

    public var name: String { "leveldb" }

    public var settingsHelp: [String: String] {
        [
            "write_buffer_size":
                "Bytes of writes LevelDB gathers in memory before flushing them to a sorted table "
                + "(LevelDB's default is 4 MiB); larger means fewer, bigger flushes and a longer recovery.",
            "compression": "'snappy' (default) or 'none': how table blocks are compressed.",
        ]
    }

    public func openLogStore(_ options: StoreOptions) throws -> any LogStore {
        let settings = try prepare(options, kind: .log)
        return try KeyValueLogStore(engine: LevelDBLogEngine(directory: options.directory, sync: options.sync, settings: settings))
    }

    public func openStateStore(_ options: StoreOptions) throws -> any StateStore {
        let settings = try prepare(options, kind: .state)
        return try LevelDBStateStore(
            directory: options.directory, sync: options.sync, stateSync: options.stateSync, settings: settings,
            limits: options.stateLimits)
    }

    private func prepare(_ options: StoreOptions, kind: StoreDirectory.Kind) throws -> LevelDBSettings {
        try checkSettings(options)
        let settings = try Self.parse(options.settings)
        try StoreDirectory.prepare(options.directory, backend: name, kind: kind, sync: options.sync)
        return settings
    }

    static func parse(_ settings: [String: String]) throws -> LevelDBSettings {
        var parsed = LevelDBSettings()
        if let text = settings["write_buffer_size"] {
            guard let size = Int(text), size > 0 else {
                throw StorageError.invalidArgument(
                    "leveldb setting write_buffer_size must be a positive number of bytes, got '\(text)'")
            }
            parsed.writeBufferSize = size
        }
        switch settings["compression"] {
        case nil, "snappy": parsed.compression = true
        case "none": parsed.compression = false
        case let other?:
            throw StorageError.invalidArgument("leveldb setting compression must be 'snappy' or 'none', got '\(other)'")
        }
        return parsed
    }
}
