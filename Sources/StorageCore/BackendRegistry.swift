/// Where and how to open one store.
public struct StoreOptions: Sendable, Hashable {
    /// The store's own directory. Two stores never share one.
    public var directory: String
    /// When true, every mutating call of a log store is durable (fsync)
    /// before it returns, and a state store is durable as `stateSync` says.
    /// False is for measuring what syncing costs: it is not safe for Raft,
    /// since on power loss a node may forget a vote or an acknowledged entry.
    public var sync: Bool
    /// Backend-specific settings, e.g. `map_size` for lmdb. Unknown keys are refused.
    public var settings: [String: String]
    /// When a state store's applies become durable (log stores ignore it).
    public var stateSync: StateSyncMode
    /// The largest key and value a state store holds (log stores ignore it):
    /// `.cluster`, except under a wrapper that grows what it stores (an
    /// encrypting store opens the store underneath with room for its seal).
    public var stateLimits: StateStoreLimits

    public init(
        directory: String, sync: Bool = true, settings: [String: String] = [:],
        stateSync: StateSyncMode = .checkpoint, stateLimits: StateStoreLimits = .cluster
    ) {
        self.directory = directory
        self.sync = sync
        self.settings = settings
        self.stateSync = stateSync
        self.stateLimits = stateLimits
    }
}

/// When a state store's applied batches reach stable storage (with `sync` on).
///
/// Raft makes a command durable by syncing the log entry that carries it, on a
/// quorum, before anyone is told it committed. Syncing the state store again on
/// every apply adds a second durable write per command that protects nothing
/// the log does not: a restarted node replays the log after the state store's
/// applied position. So by default the state store is synced only at
/// checkpoints, which the runtime takes before it compacts the log.
public enum StateSyncMode: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// `apply` does not sync; `checkpoint()` does (the default).
    case checkpoint
    /// Every `apply` syncs before it returns.
    case always

    public var description: String { rawValue }
}

/// The two kinds of store a node opens: its Raft log and its state store.
public enum StoreKind: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case log
    case state

    public var description: String { rawValue }
}

/// A storage engine that can serve as Raft log, state store, or both.
///
/// A backend lives in its own target and is known to the rest of RaftLab only
/// through this protocol and its `name`.
public protocol StorageBackend: Sendable {
    /// The name users write in configs and on the command line.
    var name: String { get }
    /// The kinds of store this backend provides (both, unless it says
    /// otherwise). The registry refuses to open any other kind, and the
    /// `open` method of a kind a backend does not provide is never called
    /// through the registry.
    var kinds: Set<StoreKind> { get }
    /// Settings this backend understands, with a sentence on each (for `--help`).
    var settingsHelp: [String: String] { get }
    /// False when data cannot outlive the process (the memory backend).
    var isPersistent: Bool { get }
    func openLogStore(_ options: StoreOptions) throws -> any LogStore
    func openStateStore(_ options: StoreOptions) throws -> any StateStore
    /// Drops whatever this backend keeps outside files for stores under
    /// `directory`, as ending the process would: lets an in-process cluster
    /// model a real restart of a non-persistent node, and tests clean up.
    func forgetVolatileData(under directory: String)
}

extension StorageBackend {
    public var kinds: Set<StoreKind> { [.log, .state] }
    public var settingsHelp: [String: String] { [:] }
    public var isPersistent: Bool { true }
    public func forgetVolatileData(under directory: String) {}

    /// Refuses settings this backend does not know, so a typo in a config file
    /// is an error rather than a silently ignored option.
    public func checkSettings(_ options: StoreOptions) throws {
        let unknown = options.settings.keys.filter { settingsHelp[$0] == nil }.sorted()
        guard unknown.isEmpty else {
            let known = settingsHelp.keys.sorted()
            throw StorageError.invalidArgument(
                "backend '\(name)' has no setting \(unknown.map { "'\($0)'" }.joined(separator: ", "))"
                    + (known.isEmpty ? "" : "; it knows \(known.joined(separator: ", "))"))
        }
    }
}

/// Backends by name. Everything above the storage layer opens stores through a
/// registry and a name string, never by importing a backend.
public struct BackendRegistry: Sendable {
    private var backends: [String: any StorageBackend] = [:]

    public init(_ backends: [any StorageBackend] = []) {
        for backend in backends { register(backend) }
    }

    public mutating func register(_ backend: any StorageBackend) {
        backends[backend.name] = backend
    }

    /// Registered names, sorted.
    public var names: [String] { backends.keys.sorted() }

    /// Names of the backends that provide `kind` of store, sorted.
    public func names(providing kind: StoreKind) -> [String] {
        names.filter { backends[$0]!.kinds.contains(kind) }
    }

    public func backend(named name: String) throws -> any StorageBackend {
        guard let backend = backends[name] else {
            throw StorageError.unknownBackend(name: name, known: names)
        }
        return backend
    }

    /// The backend called `name`, refused with `.unsupportedStore` (naming
    /// the backends that can) when it does not provide `kind`.
    public func backend(named name: String, providing kind: StoreKind) throws -> any StorageBackend {
        let backend = try backend(named: name)
        guard backend.kinds.contains(kind) else {
            throw StorageError.unsupportedStore(backend: name, kind: kind, providers: names(providing: kind))
        }
        return backend
    }

    public func openLogStore(backend name: String, _ options: StoreOptions) throws -> any LogStore {
        try backend(named: name, providing: .log).openLogStore(options)
    }

    public func openStateStore(backend name: String, _ options: StoreOptions) throws -> any StateStore {
        try backend(named: name, providing: .state).openStateStore(options)
    }

    /// Checks that `config` names a log backend and a state backend that
    /// exist and provide those kinds of store, without opening anything.
    public func validate(_ config: StorageConfig) throws {
        _ = try backend(named: config.logBackend, providing: .log)
        _ = try backend(named: config.stateBackend, providing: .state)
    }

    /// Opens a node's log and state stores under `config.dataDirectory`, in
    /// the sub-directories `log` and `state`. The two may use different backends.
    public func openStores(_ config: StorageConfig) throws -> (log: any LogStore, state: any StateStore) {
        try validate(config)
        let log = try openLogStore(backend: config.logBackend, config.logOptions)
        do {
            let state = try openStateStore(backend: config.stateBackend, config.stateOptions)
            return (log, state)
        } catch {
            try? log.close()
            throw error
        }
    }
}

/// The storage part of a node's configuration.
public struct StorageConfig: Sendable, Hashable {
    public var logBackend: String
    public var stateBackend: String
    public var dataDirectory: String
    public var sync: Bool
    /// When the state store's applies become durable.
    public var stateSync: StateSyncMode
    /// Backend settings, applied to whichever store uses that backend.
    public var settings: [String: [String: String]]

    public init(
        logBackend: String, stateBackend: String, dataDirectory: String,
        sync: Bool = true, stateSync: StateSyncMode = .checkpoint, settings: [String: [String: String]] = [:]
    ) {
        self.logBackend = logBackend
        self.stateBackend = stateBackend
        self.dataDirectory = dataDirectory
        self.sync = sync
        self.stateSync = stateSync
        self.settings = settings
    }

    public init(backend: String, dataDirectory: String, sync: Bool = true, stateSync: StateSyncMode = .checkpoint) {
        self.init(logBackend: backend, stateBackend: backend, dataDirectory: dataDirectory, sync: sync, stateSync: stateSync)
    }

    public var logOptions: StoreOptions {
        StoreOptions(directory: dataDirectory + "/log", sync: sync, settings: settings[logBackend] ?? [:])
    }

    public var stateOptions: StoreOptions {
        StoreOptions(
            directory: dataDirectory + "/state", sync: sync, settings: settings[stateBackend] ?? [:], stateSync: stateSync)
    }
}
