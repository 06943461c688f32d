import StorageCore

/// The on-disk layout of a flat-file state store, and its recovery at open.
///
///     <root>/RAFTLAB_STORE        marker (StoreDirectory)
///     <root>/CURRENT              Checksummed(name of the live generation)
///     <root>/items-000001/        one generation: the whole state
///         k<hex key>              one file per item (see KeyFileName, ItemRecord)
///         h<hex prefix>-<hash>    an item whose key is too long for a plain name
///         applied                 PositionCodec: the applied position
///         journal                 BatchJournal, only while a batch is being applied
///     <root>/snapshots/snap-N/    hard links frozen by `snapshot()`, removed by close()
///
/// Why generations: `restore` replaces the whole state, which is many files.
/// It writes a complete new generation beside the live one and then switches
/// `CURRENT` with one atomic rename, so a crash leaves the old state or the new
/// one. Stale generations (an interrupted restore, or the old state after a
/// switch) are deleted at open.
struct StateLayout {
    let root: String

    static let currentName = "CURRENT"
    static let appliedName = "applied"
    static let generationPrefix = "items-"

    var currentPath: String { root + "/" + Self.currentName }
    var snapshotsPath: String { root + "/snapshots" }

    func generationPath(_ generation: UInt64) -> String { root + "/" + Self.generationName(generation) }

    static func generationName(_ generation: UInt64) -> String {
        let digits = String(generation)
        return generationPrefix + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    static func parseGeneration(_ name: String) -> UInt64? {
        guard name.hasPrefix(generationPrefix) else { return nil }
        let digits = name.dropFirst(generationPrefix.count)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let generation = UInt64(digits),
              generationName(generation) == name
        else { return nil }
        return generation
    }

    /// Points `CURRENT` at `generation`: the commit point of a restore.
    func switchCurrent(to generation: UInt64, sync: Bool, counter: SyncCounter) throws {
        let name = Array(Self.generationName(generation).utf8)
        try FileSystem.writeFileAtomically(currentPath, Checksummed.seal(name), sync: sync, counter: counter)
    }

    func readCurrent() throws -> UInt64? {
        guard let bytes = try FileSystem.readFile(currentPath) else { return nil }
        let name = String(decoding: try Checksummed.open(bytes, source: currentPath), as: UTF8.self)
        guard let generation = Self.parseGeneration(name) else {
            throw StorageError.corrupted(path: currentPath, reason: "CURRENT names '\(name)', which is not a generation")
        }
        return generation
    }

    /// Brings the directory to a consistent state and returns the live
    /// generation and applied position: what a crash at any point left behind
    /// becomes exactly the state before or after the interrupted call.
    ///
    /// Also run after a call fails midway, so it leaves `snapshots/` alone
    /// (see `removeStaleSnapshots`).
    func recover(sync: Bool, counter: SyncCounter) throws -> (generation: UInt64, applied: AppliedPosition) {
        let names = try FileSystem.listDirectory(root)
        try FlatFileSystem.removeTemporaryFiles(in: root, names: names)
        let generation: UInt64
        if let current = try readCurrent() {
            generation = current
            guard FileSystem.isDirectory(generationPath(generation)) else {
                throw StorageError.corrupted(path: currentPath, reason: "CURRENT names a generation directory that does not exist")
            }
        } else {
            // A new store, or one whose creation was interrupted before CURRENT
            // existed: nothing was ever committed here.
            generation = 1
            for name in names where Self.parseGeneration(name) != nil { try FileSystem.removeTree(root + "/" + name) }
            try FlatFileSystem.makeDirectory(generationPath(generation), sync: sync, counter: counter)
            try switchCurrent(to: generation, sync: sync, counter: counter)
        }
        for name in names {
            if let stale = Self.parseGeneration(name), stale != generation { try FileSystem.removeTree(root + "/" + name) }
        }

        let directory = generationPath(generation)
        try FlatFileSystem.removeTemporaryFiles(in: directory, names: try FileSystem.listDirectory(directory))
        let journalPath = directory + "/" + BatchJournal.fileName
        switch try BatchJournal.read(journalPath) {
        case .none:
            break
        case .torn:
            // Never became durable as a whole, so its batch never committed and
            // none of its item files were touched (they are written only after
            // the journal is complete).
            try FileSystem.removeFile(journalPath)
        case .complete(let journal):
            try Self.redo(journal, in: directory, sync: sync, counter: counter)
        }
        return (generation, try Self.readApplied(in: directory))
    }

    /// Snapshots live only as long as the process that took them: at open,
    /// whatever is under `snapshots/` is left over from an earlier process.
    func removeStaleSnapshots(counter: SyncCounter) throws {
        try FileSystem.removeTree(snapshotsPath)
        try FlatFileSystem.makeDirectory(snapshotsPath, sync: false, counter: counter)
    }

    static func readApplied(in directory: String) throws -> AppliedPosition {
        let path = directory + "/" + appliedName
        guard let bytes = try FileSystem.readFile(path) else { return .zero }
        return try PositionCodec.decode(bytes, source: path)
    }

    /// Carries out a committed journal: puts, deletes, the applied position,
    /// syncs, and finally removes the journal.
    ///
    /// Redoing can never move the state backwards. The `journal` file is only
    /// ever replaced by the next batch's journal, and that happens before the
    /// next batch touches any item file; a restore starts a new generation with
    /// no journal at all. So the journal on disk always belongs to the newest
    /// batch of this generation, and the keys it writes hold either its own
    /// values or older ones: redoing it rewrites the same values and the same
    /// position. (A journal whose removal was lost in a crash is redone once
    /// more, harmlessly, for the same reason.)
    static func redo(_ journal: BatchJournal, in directory: String, sync: Bool, counter: SyncCounter) throws {
        for operation in journal.operations {
            let path = directory + "/" + KeyFileName.name(for: operation.key)
            if let value = operation.value {
                try FileSystem.writeFile(path + ".tmp", ItemRecord.encode(key: operation.key, value: value), sync: sync, counter: counter)
                try FileSystem.rename(path + ".tmp", to: path)
            } else {
                try FileSystem.removeFile(path)
            }
        }
        let appliedPath = directory + "/" + appliedName
        try FileSystem.writeFile(appliedPath + ".tmp", PositionCodec.encode(journal.position), sync: sync, counter: counter)
        try FileSystem.rename(appliedPath + ".tmp", to: appliedPath)
        // One directory sync makes every rename and unlink above durable before
        // the journal that could redo them goes away.
        if sync { try FileSystem.syncDirectory(directory, counter: counter) }
        try FileSystem.removeFile(directory + "/" + BatchJournal.fileName)
    }
}
