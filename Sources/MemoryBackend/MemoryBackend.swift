import StorageCore
import Synchronization

/// Stores that live in this process's memory only.
///
/// Data is kept in a process-wide table keyed by the store's directory string,
/// like a RAM disk that vanishes with the process: closing a store and opening
/// the same directory again in the same process finds the data (so an
/// in-process cluster can restart a node), but nothing survives process exit.
/// Nothing is ever synced; `syncCount` stays 0.
public struct MemoryBackend: StorageBackend {
    public init() {}
    public var name: String { "memory" }
    public var isPersistent: Bool { false }

    public func openLogStore(_ options: StoreOptions) throws -> any LogStore {
        try checkSettings(options)
        return MemoryLogStore(volume: MemoryVolumes.shared.logVolume(options.directory))
    }

    public func openStateStore(_ options: StoreOptions) throws -> any StateStore {
        try checkSettings(options)
        return MemoryStateStore(volume: MemoryVolumes.shared.stateVolume(options.directory), limits: options.stateLimits)
    }

    public func forgetVolatileData(under directory: String) {
        Self.removeAll(under: directory)
    }

    /// Forgets every store under `directoryPrefix`, as deleting a data
    /// directory would on disk.
    public static func removeAll(under directoryPrefix: String) {
        MemoryVolumes.shared.remove(under: directoryPrefix)
    }
}

/// The process-wide table behind `MemoryBackend`.
final class MemoryVolumes: Sendable {
    static let shared = MemoryVolumes()

    private struct Tables {
        var logs: [String: MemoryLogVolume] = [:]
        var states: [String: MemoryStateVolume] = [:]
    }

    private let tables = Mutex(Tables())

    func logVolume(_ directory: String) -> MemoryLogVolume {
        tables.withLock { tables in
            if let volume = tables.logs[directory] { return volume }
            let volume = MemoryLogVolume()
            tables.logs[directory] = volume
            return volume
        }
    }

    func stateVolume(_ directory: String) -> MemoryStateVolume {
        tables.withLock { tables in
            if let volume = tables.states[directory] { return volume }
            let volume = MemoryStateVolume()
            tables.states[directory] = volume
            return volume
        }
    }

    func remove(under prefix: String) {
        tables.withLock { tables in
            tables.logs = tables.logs.filter { !$0.key.hasPrefix(prefix) }
            tables.states = tables.states.filter { !$0.key.hasPrefix(prefix) }
        }
    }
}
