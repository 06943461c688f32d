import Logging
import StorageCore

/// Any backend, opened through encryption at rest: `EncryptedBackend(inner:
/// lmdb, key:)` is a backend named `lmdb` whose stores seal every log entry
/// payload and every state value with AES-256-GCM before LMDB sees them.
/// Nothing above the storage seam (the Raft engine, the state machine)
/// knows; `BackendRegistry.encrypted(with:)` wraps every backend at once.
///
/// # Layout
/// A store directory opened this way holds the `RAFTLAB_STORE` marker, which
/// names the backend, the encryption (`encryption=aes-256-gcm`) and the
/// identity of the key (`key_id=…`), and one sub-directory,
/// `aes-256-gcm-<key id>/`, where the backend keeps its own files (with its
/// own marker). So:
/// - opening the store without encryption is refused by the marker check
///   every backend makes (`StoreDirectory.prepare`), naming the key it needs;
/// - opening it with another key is refused, naming both key identities;
/// - opening an unencrypted store with a key is refused;
/// - `raftlab rotate-key` builds the re-encrypted copy in a sibling
///   directory and switches to it with one atomic rewrite of the marker.
public struct EncryptedBackend: StorageBackend {
    public static let algorithm = "aes-256-gcm"

    public let inner: any StorageBackend
    public let key: EncryptionKey
    /// How many records each store may seal under `key` (`SealCounter`).
    public let sealLimits: SealLimits
    /// Where the warning that a key nears its seal limit goes.
    public let logger: Logger

    public init(
        inner: any StorageBackend, key: EncryptionKey, sealLimits: SealLimits = .standard,
        logger: Logger = Logger(label: "raftlab.encryption")
    ) {
        self.inner = inner
        self.key = key
        self.sealLimits = sealLimits
        self.logger = logger
    }

    public var name: String { inner.name }
    public var kinds: Set<StoreKind> { inner.kinds }
    public var settingsHelp: [String: String] { inner.settingsHelp }
    public var isPersistent: Bool { inner.isPersistent }

    public func openLogStore(_ options: StoreOptions) throws -> any LogStore {
        let innerOptions = try prepare(options, kind: .log)
        let sealer = RecordSealer(key: key, counter: try counter(options))
        let store = try inner.openLogStore(innerOptions)
        return EncryptedLogStore(inner: store, sealer: sealer, directory: options.directory)
    }

    public func openStateStore(_ options: StoreOptions) throws -> any StateStore {
        var innerOptions = try prepare(options, kind: .state)
        innerOptions.stateLimits = Self.innerLimits(options.stateLimits)
        let sealer = RecordSealer(key: key, counter: try counter(options))
        let store = try inner.openStateStore(innerOptions)
        return EncryptedStateStore(inner: store, sealer: sealer, directory: options.directory, limits: options.stateLimits)
    }

    /// What the store underneath must hold so that every pair within
    /// `limits` fits once sealed: keys as they are, values plus the seal.
    static func innerLimits(_ limits: StateStoreLimits) -> StateStoreLimits {
        StateStoreLimits(maxKeyBytes: limits.maxKeyBytes, maxValueBytes: limits.maxValueBytes + RecordSealer.overhead)
    }

    /// The count of the store's seals under `key`, kept beside its marker
    /// (`prepare` has checked the marker and made the directory).
    private func counter(_ options: StoreOptions) throws -> SealCounter {
        try SealCounter.open(
            directory: options.directory, key: key, limits: sealLimits, logger: logger, persistent: inner.isPersistent)
    }

    public func forgetVolatileData(under directory: String) {
        inner.forgetVolatileData(under: directory)
    }

    /// The directory the backend itself uses for a store sealed with `key`.
    static func innerDirectory(_ directory: String, key: EncryptionKey) -> String {
        "\(directory)/\(algorithm)-\(key.id)"
    }

    /// Checks or writes the marker of `options.directory` and returns the
    /// options the backend opens its own store with.
    func prepare(_ options: StoreOptions, kind: StoreDirectory.Kind) throws -> StoreOptions {
        var innerOptions = options
        innerOptions.directory = Self.innerDirectory(options.directory, key: key)
        // A store that lives in memory has no marker to keep: its data cannot
        // meet another key.
        guard inner.isPersistent else { return innerOptions }
        try Self.checkMarker(options.directory, backend: inner.name, kind: kind, key: key, sync: options.sync)
        // Left over by a key rotation that stopped before or after its switch.
        let current = "\(Self.algorithm)-\(key.id)"
        for name in try FileSystem.listDirectory(options.directory)
        where name.hasPrefix(Self.algorithm + "-") && name != current {
            try FileSystem.removeTree(options.directory + "/" + name)
        }
        return innerOptions
    }

    /// Refuses a directory that is not an encrypted store of this backend and
    /// kind under `key`; marks a new (empty) directory as one.
    static func checkMarker(
        _ directory: String, backend: String, kind: StoreDirectory.Kind, key: EncryptionKey, sync: Bool
    ) throws {
        try FileSystem.createDirectory(directory, sync: sync)
        guard let fields = try StoreDirectory.readMarker(directory) else {
            let others = try FileSystem.listDirectory(directory).filter { $0 != StoreDirectory.markerName + ".tmp" }
            guard others.isEmpty else {
                throw StorageError.backendMismatch(
                    directory: directory, expected: "\(backend) \(kind.rawValue) store",
                    found: "unknown (the directory is not empty and has no \(StoreDirectory.markerName) marker)")
            }
            try writeMarker(directory, backend: backend, kind: kind, key: key, sync: sync)
            return
        }
        let found = "\(fields["backend"] ?? "unknown") \(fields["kind"] ?? "unknown") store"
        guard fields["backend"] == backend, fields["kind"] == kind.rawValue else {
            throw StorageError.backendMismatch(
                directory: directory, expected: "\(backend) \(kind.rawValue) store", found: found)
        }
        guard let encryption = fields[StoreDirectory.encryptionField] else {
            throw StorageError.encryption(
                directory: directory,
                problem: "the store is not encrypted, and an encryption key was given (\(key)); "
                    + "remove encryption from [storage] to open it, or start the node from an empty data directory")
        }
        guard encryption == algorithm else {
            throw StorageError.encryption(
                directory: directory, problem: "the store is encrypted with '\(encryption)', which this version cannot read")
        }
        let storedID = fields[StoreDirectory.keyIDField] ?? "unknown"
        guard storedID == key.id else {
            throw StorageError.encryption(
                directory: directory,
                problem: "wrong encryption key: the store was encrypted with key \(storedID), "
                    + "but the key in \(key.source) is key \(key.id)")
        }
    }

    static func writeMarker(_ directory: String, backend: String, kind: StoreDirectory.Kind, key: EncryptionKey, sync: Bool) throws {
        try StoreDirectory.writeMarker(
            directory, backend: backend, kind: kind,
            extra: [(StoreDirectory.encryptionField, algorithm), (StoreDirectory.keyIDField, key.id)], sync: sync)
    }
}

extension BackendRegistry {
    /// Every backend of this registry, under the same names, opened through
    /// encryption at rest with `key`.
    public func encrypted(
        with key: EncryptionKey, sealLimits: SealLimits = .standard, logger: Logger = Logger(label: "raftlab.encryption")
    ) throws -> BackendRegistry {
        var wrapped = BackendRegistry()
        for name in names {
            wrapped.register(EncryptedBackend(inner: try backend(named: name), key: key, sealLimits: sealLimits, logger: logger))
        }
        return wrapped
    }
}
