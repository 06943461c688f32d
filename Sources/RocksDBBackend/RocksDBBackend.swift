import CRocksDB
import StorageCore

/// RocksDB: the log-structured merge tree TiKV and many Raft stores run on,
/// through Debian's librocksdb C API. One RocksDB database per store
/// directory (CURRENT, MANIFEST-*, OPTIONS-*, a write-ahead .log and sorted
/// .sst tables), with a column family per kind of record: `log` and
/// `hard_state` in a log store, `state` and `meta` in a state store. Each
/// mutating call is one WriteBatch, atomic across column families.
///
/// # Where it syncs
/// In `rocksdb_write` with sync=1, once per durable call: the batch is
/// appended to the WAL (.log) as one record and fdatasynced, counted as 1.
/// Every log store call is durable. A state store's applies are written with
/// sync=0 in checkpoint mode (appended to the WAL with write(2), no sync) and
/// made durable by `checkpoint()`, which calls `rocksdb_flush_wal(sync=1)`:
/// one fdatasync of the WAL covers every earlier write (1 sync). A restore is
/// written in chunks with sync=0 and committed by one synced batch (1 sync).
/// Memtable flushes, compactions and MANIFEST updates sync their own files on
/// RocksDB's background threads, off the write path, and are not counted.
/// With `sync` off each write still reaches the WAL file before the call
/// returns (survives SIGKILL, not power loss); `close` syncs the WAL once.
public struct RocksDBBackend: StorageBackend {
    public static let defaultBlockCacheSize = 8 << 20

    public init() {}

    public var name: String { "rocksdb" }

    public var settingsHelp: [String: String] {
        [
            "block_cache_size":
                "Bytes of uncompressed blocks cached in memory per store (default \(Self.defaultBlockCacheSize), 8 MiB).",
            "compression":
                "How .sst blocks are compressed: 'snappy' (default), 'lz4', 'zstd' or 'none'.",
            "write_buffer_size":
                "Bytes of writes RocksDB gathers in a memtable before flushing them to an .sst table "
                + "(RocksDB's default is 64 MiB); larger means fewer flushes and a longer WAL replay at open.",
        ]
    }

    public func openLogStore(_ options: StoreOptions) throws -> any LogStore {
        let settings = try prepare(options, kind: .log)
        return try KeyValueLogStore(engine: RocksDBLogEngine(directory: options.directory, sync: options.sync, settings: settings))
    }

    public func openStateStore(_ options: StoreOptions) throws -> any StateStore {
        let settings = try prepare(options, kind: .state)
        return try RocksDBStateStore(
            directory: options.directory, sync: options.sync, stateSync: options.stateSync, settings: settings,
            limits: options.stateLimits)
    }

    private func prepare(_ options: StoreOptions, kind: StoreDirectory.Kind) throws -> RocksDBSettings {
        try checkSettings(options)
        let settings = try Self.parse(options.settings)
        try StoreDirectory.prepare(options.directory, backend: name, kind: kind, sync: options.sync)
        return settings
    }

    static func parse(_ settings: [String: String]) throws -> RocksDBSettings {
        var parsed = RocksDBSettings()
        func bytes(_ key: String) throws -> Int? {
            guard let text = settings[key] else { return nil }
            guard let size = Int(text), size > 0 else {
                throw StorageError.invalidArgument("rocksdb setting \(key) must be a positive number of bytes, got '\(text)'")
            }
            return size
        }
        if let size = try bytes("block_cache_size") { parsed.blockCacheSize = size }
        parsed.writeBufferSize = try bytes("write_buffer_size")
        switch settings["compression"] {
        case nil, "snappy": parsed.compression = Int32(rocksdb_snappy_compression)
        case "lz4": parsed.compression = Int32(rocksdb_lz4_compression)
        case "zstd": parsed.compression = Int32(rocksdb_zstd_compression)
        case "none": parsed.compression = Int32(rocksdb_no_compression)
        case let other?:
            throw StorageError.invalidArgument(
                "rocksdb setting compression must be 'snappy', 'lz4', 'zstd' or 'none', got '\(other)'")
        }
        return parsed
    }
}

/// The settings `RocksDBBackend` understands, parsed once at open.
struct RocksDBSettings: Sendable {
    var blockCacheSize = RocksDBBackend.defaultBlockCacheSize
    var writeBufferSize: Int?
    var compression = Int32(rocksdb_snappy_compression)
}
