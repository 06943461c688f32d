import StorageCore

// PLACEHOLDER until the real backend lands in this session; it refuses to open.
public struct MemoryBackend: StorageBackend {
    public init() {}
    public var name: String { "memory" }
    public func openLogStore(_ options: StoreOptions) throws -> any LogStore {
        throw StorageError.engine(backend: name, message: "not built yet")
    }
    public func openStateStore(_ options: StoreOptions) throws -> any StateStore {
        throw StorageError.engine(backend: name, message: "not built yet")
    }
}
