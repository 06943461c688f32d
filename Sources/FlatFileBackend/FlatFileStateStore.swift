import StorageCore
import Synchronization

/// A `StateStore` that keeps every item in its own file (the layout of the
/// original simulator, which wrote one JSON file per item).
///
/// See `StateLayout` for the directory layout. In short: item files are only
/// ever created by writing a temp file and renaming it into place, never
/// modified in place; a batch is made atomic by a redo journal
/// (`BatchJournal`); a restore writes a new generation directory and switches
/// `CURRENT`; a snapshot hard-links the item files into its own directory.
///
/// Where it syncs (with `sync` on; with it off, nothing is synced and every
/// step still lands in program order, which is what survives SIGKILL):
/// - `apply` with a non-empty batch: the journal temp file (fdatasync), the
///   generation directory after renaming the journal into place (fsync: the
///   commit point), then each written item file (fdatasync), the new `applied`
///   file (fdatasync) and the generation directory once more (fsync) before the
///   journal is removed. That is `puts + 4` syncs; deletes cost no extra sync.
/// - `apply` with an empty batch: `applied` is replaced atomically (fdatasync +
///   directory fsync).
/// - `restore`: the store directory after creating the new generation (fsync),
///   each item file and `applied` (fdatasync), the new generation directory
///   (fsync), then `CURRENT` (fdatasync + directory fsync: the commit point).
/// - `snapshot`: none; a snapshot does not outlive the process.
///
/// Thread safety: all state sits in a `Mutex`, and every call holds it while
/// it touches the files, so calls are serialised and a snapshot sees either
/// all of a batch or none of it.
final class FlatFileStateStore: StateStore {
    private struct State {
        var isClosed = false
        /// Set when a failed call left the directory in a state that recovery
        /// could not repair either; every later call reports it.
        var failure: StorageError?
        var generation: UInt64
        var applied: AppliedPosition
        var nextSnapshot: UInt64 = 1
    }

    private let layout: StateLayout
    private let sync: Bool
    private let counter = SyncCounter()
    private let state: Mutex<State>
    /// The largest key and value this store holds; larger writes are refused before any is written.
    let limits: StateStoreLimits

    init(_ options: StoreOptions) throws {
        limits = options.stateLimits
        try StoreDirectory.prepare(options.directory, backend: FlatFileBackend.backendName, kind: .state, sync: options.sync)
        layout = StateLayout(root: options.directory)
        sync = options.sync
        try layout.removeStaleSnapshots(counter: counter)
        let recovered = try layout.recover(sync: options.sync, counter: counter)
        state = Mutex(State(generation: recovered.generation, applied: recovered.applied))
    }

    var syncCount: UInt64 { counter.value }

    // MARK: Reads

    func get(_ key: Bytes) throws -> Bytes? {
        try withState { state in
            let name = KeyFileName.name(for: key)
            let path = layout.generationPath(state.generation) + "/" + name
            guard let bytes = try FileSystem.readFile(path) else { return nil }
            let pair = try ItemRecord.decode(bytes, source: path)
            guard pair.key == key else {
                // Only possible for a hashed name: another key whose name hashes
                // the same lives there. `put` refuses to store a key under a
                // taken name, so the key asked for is certainly absent.
                guard KeyFileName.isHashed(key), KeyFileName.name(for: pair.key) == name else {
                    throw StorageError.corrupted(path: path, reason: "the item file holds a key that does not belong under this file name")
                }
                return nil
            }
            return pair.value
        }
    }

    func scan(_ range: KeyRange, limit: Int) throws -> [KeyValue] {
        try withState { state in
            guard limit > 0 else { return [] }
            let directory = layout.generationPath(state.generation)
            var found = try ItemListing.read(directory) { range.contains($0) }
            found = Array(found.prefix(limit))
            return try found.map { try $0.load(from: directory) }
        }
    }

    func appliedPosition() throws -> AppliedPosition {
        try withState { $0.applied }
    }

    /// Every apply is already as durable as `sync` makes it.
    func checkpoint() throws -> AppliedPosition {
        try appliedPosition()
    }

    // MARK: Writes

    func apply(_ batch: WriteBatch, through position: AppliedPosition) throws {
        try limits.check(batch)
        try withState { state in
            guard position.index >= state.applied.index else {
                throw StorageError.invalidArgument(
                    "applied index would go backwards from \(state.applied.index) to \(position.index)")
            }
            let directory = layout.generationPath(state.generation)
            var journal = BatchJournal(batch, position: position)
            journal.operations = try checkedForCollisions(journal.operations, in: directory)
            try repairing(&state) { state in
                if journal.operations.isEmpty {
                    let path = directory + "/" + StateLayout.appliedName
                    try FileSystem.writeFileAtomically(path, PositionCodec.encode(position), sync: sync, counter: counter)
                } else {
                    // Commit point: once the journal is durable, the batch will
                    // be completed even if the process dies in the next line.
                    let path = directory + "/" + BatchJournal.fileName
                    try FileSystem.writeFileAtomically(path, journal.encode(), sync: sync, counter: counter)
                    try StateLayout.redo(journal, in: directory, sync: sync, counter: counter)
                }
                state.applied = position
            }
        }
    }

    /// Refuses a put whose hashed file name is taken by another key (in the
    /// store or earlier in the same batch), and drops deletes of such keys
    /// (they are not stored, and deleting the file would delete someone else).
    /// Runs before the journal is written, so a journal never holds an
    /// operation that its redo could not carry out.
    private func checkedForCollisions(_ operations: [(key: Bytes, value: Bytes?)], in directory: String) throws -> [(key: Bytes, value: Bytes?)] {
        var kept: [(key: Bytes, value: Bytes?)] = []
        var hashedNames: [String: Bytes] = [:]
        for operation in operations {
            guard KeyFileName.isHashed(operation.key) else {
                kept.append(operation)
                continue
            }
            let name = KeyFileName.name(for: operation.key)
            if let other = hashedNames[name] { throw Self.collision(operation.key, other) }
            hashedNames[name] = operation.key
            if let stored = try ItemRecord.read(directory + "/" + name, name: name), stored.key != operation.key {
                if operation.value == nil { continue }
                throw Self.collision(operation.key, stored.key)
            }
            kept.append(operation)
        }
        return kept
    }

    private static func collision(_ key: Bytes, _ other: Bytes) -> StorageError {
        .engine(
            backend: FlatFileBackend.backendName,
            message: "keys of \(key.count) and \(other.count) bytes share the file name \(KeyFileName.name(for: key)) (128-bit hash collision); the second key cannot be stored")
    }

    func restore(from source: inout some KeyValueSource, position: AppliedPosition) throws {
        try withState { state in
            let generation = state.generation + 1
            let directory = layout.generationPath(generation)
            // Left over by an earlier restore that failed in this process.
            try FileSystem.removeTree(directory)
            do {
                try FlatFileSystem.makeDirectory(directory, sync: sync, counter: counter)
                var previous: Bytes?
                var hashedNames: [String: Bytes] = [:]
                while let pair = try source.next() {
                    if let previous, !previous.sortsBefore(pair.key) {
                        throw StorageError.invalidArgument("snapshot keys are not in ascending order")
                    }
                    try limits.check(key: pair.key, value: pair.value)
                    previous = pair.key
                    let name = KeyFileName.name(for: pair.key)
                    if KeyFileName.isHashed(pair.key) {
                        if let other = hashedNames[name] { throw Self.collision(pair.key, other) }
                        hashedNames[name] = pair.key
                    }
                    // No temp file: the whole generation is invisible until CURRENT names it.
                    try FileSystem.writeFile(directory + "/" + name, ItemRecord.encode(key: pair.key, value: pair.value), sync: sync, counter: counter)
                }
                try FileSystem.writeFile(directory + "/" + StateLayout.appliedName, PositionCodec.encode(position), sync: sync, counter: counter)
                if sync { try FileSystem.syncDirectory(directory, counter: counter) }
            } catch {
                try? FileSystem.removeTree(directory)
                throw error
            }
            try repairing(&state) { state in
                try layout.switchCurrent(to: generation, sync: sync, counter: counter)
                let old = layout.generationPath(state.generation)
                state.generation = generation
                state.applied = position
                // Garbage from here on: if removing it fails, open removes it.
                try? FileSystem.removeTree(old)
            }
        }
    }

    // MARK: Snapshots

    func snapshot() throws -> any StateSnapshot {
        try withState { state in
            let id = state.nextSnapshot
            state.nextSnapshot += 1
            let directory = layout.snapshotsPath + "/snap-\(id)"
            let source = layout.generationPath(state.generation)
            try FlatFileSystem.makeDirectory(directory, sync: false, counter: counter)
            do {
                for name in try FileSystem.listDirectory(source) where KeyFileName.decode(name) != nil {
                    try FlatFileSystem.hardLink(source + "/" + name, to: directory + "/" + name)
                }
            } catch {
                try? FileSystem.removeTree(directory)
                throw error
            }
            return FlatFileSnapshot(directory: directory, position: state.applied)
        }
    }

    func close() throws {
        state.withLock { $0.isClosed = true }
    }

    // MARK: Locking and failure handling

    private func withState<R: Sendable>(_ body: (inout State) throws -> R) throws -> R {
        try state.withLock { state in
            guard !state.isClosed else { throw StorageError.closed }
            if let failure = state.failure { throw failure }
            return try body(&state)
        }
    }

    /// Runs the disk work of a mutation. If it fails midway (disk full, I/O
    /// error), the directory looks exactly like after a crash at that point,
    /// so the in-memory view is rebuilt the way `init` builds it (which also
    /// redoes a committed journal). If even that fails, the store refuses all
    /// further calls rather than guess.
    private func repairing(_ state: inout State, _ body: (inout State) throws -> Void) throws {
        do {
            try body(&state)
        } catch {
            do {
                try layout.removeStaleSnapshots(counter: counter)
        let recovered = try layout.recover(sync: sync, counter: counter)
                state.generation = recovered.generation
                state.applied = recovered.applied
            } catch let recoveryError as StorageError {
                state.failure = recoveryError
            } catch {
                state.failure = .engine(backend: FlatFileBackend.backendName, message: "\(error)")
            }
            throw error
        }
    }
}
