import FlatFileBackend
import LevelDBBackend
import LMDBBackend
import MemoryBackend
import RocksDBBackend
import SQLiteBackend
import StorageCore
import WALBackend

extension BackendRegistry {
    /// Every backend RaftLab ships, by name. To add a backend: create its
    /// target, add it to this target's dependencies in Package.swift, and list
    /// it here. Nothing else in RaftLab changes.
    public static let standard = BackendRegistry([
        MemoryBackend(),
        FlatFileBackend(),
        LMDBBackend(),
        LevelDBBackend(),
        RocksDBBackend(),
        SQLiteBackend(),
        WALBackend(),
    ])
}
