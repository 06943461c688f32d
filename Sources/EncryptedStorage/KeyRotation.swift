import StorageCore

/// `raftlab rotate-key`: re-encrypts a stopped node's stores with a new key.
///
/// For each store, a copy sealed with the new key is built beside the old
/// one (`aes-256-gcm-<new id>/`), synced, and then switched to by rewriting
/// the store's marker atomically (write, fsync, rename, fsync directory).
/// A crash before the switch leaves the old store in use (the half-built
/// copy is removed the next time the store is opened); a crash after it
/// leaves the new one (the old copy is removed likewise). Afterwards no
/// record sealed with the old key remains, so the old key can be destroyed.
public enum KeyRotation {
    /// What one store's rotation did.
    public struct Outcome: Sendable {
        public var directory: String
        public var records: Int
    }

    /// Re-encrypts the log store in `options.directory` from `old` to `new`.
    public static func rotateLogStore(
        backend: any StorageBackend, options: StoreOptions, from old: EncryptionKey, to new: EncryptionKey
    ) throws -> Outcome {
        try precheck(backend: backend, options: options, kind: .log, old: old, new: new)
        let source = try EncryptedBackend(inner: backend, key: old).openLogStore(options)
        defer { try? source.close() }
        let copy = try openCopy(options) { try EncryptedBackend(inner: backend, key: new).openLogStore($0) }
        var copied = 0
        do {
            defer { try? copy.close() }
            let compacted = try source.snapshotIndex()
            if compacted > 0 { try copy.compact(through: compacted, term: try source.term(at: compacted)) }
            var next = try source.firstIndex()
            let last = try source.lastIndex()
            while next <= last {
                let batch = try source.entries(next...last, maxBytes: 4 << 20)
                try copy.append(batch)
                copied += batch.count
                next = (batch.last?.index ?? last) + 1
            }
            try copy.saveHardState(try source.hardState())
            try copy.close()
        }
        try switchKey(options, backend: backend, kind: .log, to: new)
        return Outcome(directory: options.directory, records: copied)
    }

    /// Re-encrypts the state store in `options.directory` from `old` to `new`,
    /// streaming a snapshot of it into the copy.
    public static func rotateStateStore(
        backend: any StorageBackend, options: StoreOptions, from old: EncryptionKey, to new: EncryptionKey
    ) throws -> Outcome {
        try precheck(backend: backend, options: options, kind: .state, old: old, new: new)
        let source = try EncryptedBackend(inner: backend, key: old).openStateStore(options)
        defer { try? source.close() }
        let copy = try openCopy(options) { try EncryptedBackend(inner: backend, key: new).openStateStore($0) }
        var counting: CountingSource
        do {
            defer { try? copy.close() }
            let snapshot = try source.snapshot()
            defer { snapshot.close() }
            counting = CountingSource(snapshot: snapshot)
            try copy.restore(from: &counting, position: snapshot.position)
            try copy.checkpoint()
            try copy.close()
        }
        try switchKey(options, backend: backend, kind: .state, to: new)
        return Outcome(directory: options.directory, records: counting.count)
    }

    private static func precheck(
        backend: any StorageBackend, options: StoreOptions, kind: StoreDirectory.Kind, old: EncryptionKey, new: EncryptionKey
    ) throws {
        guard backend.isPersistent else {
            throw StorageError.invalidArgument("backend '\(backend.name)' keeps nothing on disk: there is no key to rotate")
        }
        guard old.id != new.id else {
            throw StorageError.invalidArgument("the new key is the old key (key \(old.id)): nothing to rotate")
        }
        guard FileSystem.exists(options.directory + "/" + StoreDirectory.markerName) else {
            throw StorageError.invalidArgument("no store in \(options.directory)")
        }
        // The marker must name the old key; this also refuses an unencrypted store.
        try EncryptedBackend.checkMarker(options.directory, backend: backend.name, kind: kind, key: old, sync: options.sync)
    }

    /// Opens an empty store sealed with the new key in `<directory>.rotating`
    /// (its own marker names the new key; the store's marker still names the
    /// old one). A copy left there by an interrupted rotation is discarded.
    private static func openCopy<Store>(
        _ options: StoreOptions, _ open: (StoreOptions) throws -> Store
    ) throws -> Store {
        let staging = options.directory + ".rotating"
        try? FileSystem.removeTree(staging)
        var copyOptions = options
        copyOptions.directory = staging
        return try open(copyOptions)
    }

    /// Moves the new key's copy next to the old one and switches the marker.
    private static func switchKey(_ options: StoreOptions, backend: any StorageBackend, kind: StoreDirectory.Kind, to new: EncryptionKey) throws {
        let staging = options.directory + ".rotating"
        let built = EncryptedBackend.innerDirectory(staging, key: new)
        let target = EncryptedBackend.innerDirectory(options.directory, key: new)
        try? FileSystem.removeTree(target)
        try FileSystem.rename(built, to: target)
        try FileSystem.syncDirectory(options.directory)
        // The copy's seals count against the new key (before the switch, a
        // crash leaves this file to be removed when the old key opens).
        let count = SealCounter.filePrefix + new.id
        if FileSystem.exists(staging + "/" + count) {
            try FileSystem.rename(staging + "/" + count, to: options.directory + "/" + count)
        }
        try FileSystem.syncDirectory(options.directory)
        try FileSystem.syncDirectory(FileSystem.parentDirectory(of: staging))
        // The switch: from here on the store is the new key's.
        try EncryptedBackend.writeMarker(options.directory, backend: backend.name, kind: kind, key: new, sync: true)
        try FileSystem.removeTree(staging)
        for name in try FileSystem.listDirectory(options.directory)
        where name.hasPrefix(EncryptedBackend.algorithm + "-") && name != "\(EncryptedBackend.algorithm)-\(new.id)" {
            try FileSystem.removeTree(options.directory + "/" + name)
        }
        try FileSystem.syncDirectory(options.directory)
    }
}

/// A snapshot as a key/value source, counting what passes.
private struct CountingSource: KeyValueSource {
    let snapshot: any StateSnapshot
    var count = 0

    init(snapshot: any StateSnapshot) { self.snapshot = snapshot }

    mutating func next() throws -> KeyValue? {
        guard let pair = try snapshot.next() else { return nil }
        count += 1
        return pair
    }
}
