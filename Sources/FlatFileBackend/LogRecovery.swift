import StorageCore

/// What a flat-file log directory holds, after repairing whatever a crash left
/// behind. Run at open, and after a call that failed midway (which leaves the
/// directory just as a crash at that point would).
struct RecoveredLog {
    var record: LogCommitRecord
    /// Compaction point: index and term of the last entry folded into a snapshot.
    var compaction: AppliedPosition
    var lastIndex: UInt64

    /// Brings `directory` back to exactly the state after the last call that
    /// committed, then checks it:
    /// 1. `*.tmp` files are interrupted record writes: deleted.
    /// 2. Staged files of the committed generation are renamed over their
    ///    entries (finishing an overlapping append that committed); staged
    ///    files of any other generation belong to an append that never
    ///    committed: deleted.
    /// 3. Entry files at or below the compaction point, or above the committed
    ///    end, are remains of a compaction, truncation or uncommitted append
    ///    whose deletions were cut short: deleted.
    /// 4. Every index between the compaction point and the end must have its
    ///    file; a gap is damage from outside (the writer never leaves one) and
    ///    is reported as `.corrupted`, never papered over.
    ///
    /// Entry contents are not read here: a damaged entry is reported when read.
    static func recover(_ directory: String, sync: Bool, counter: SyncCounter) throws -> RecoveredLog {
        func path(_ name: String) -> String { directory + "/" + name }

        let names = try FileSystem.listDirectory(directory)
        try FlatFileSystem.removeTemporaryFiles(in: directory, names: names)

        var compaction = AppliedPosition.zero
        if let bytes = try FileSystem.readFile(path(LogFileName.snapshotPoint)) {
            compaction = try PositionCodec.decode(bytes, source: path(LogFileName.snapshotPoint))
        }
        var record = LogCommitRecord.initial
        if let bytes = try FileSystem.readFile(path(LogCommitRecord.fileName)) {
            record = try LogCommitRecord.decode(bytes, source: path(LogCommitRecord.fileName))
        }
        let lastIndex = max(record.lastIndex, compaction.index)

        var present: [UInt64] = []
        for name in names {
            switch LogFileName.parse(name) {
            case .entry(let index):
                present.append(index)
            case let .staged(index, generation) where generation == record.generation:
                try FileSystem.rename(path(name), to: path(LogFileName.entry(index)))
                present.append(index)
            case .staged:
                try FileSystem.removeFile(path(name))
            case .temporary, .other:
                continue
            }
        }
        var expected = compaction.index + 1
        for index in Set(present).sorted() {
            if index <= compaction.index || index > lastIndex {
                try FileSystem.removeFile(path(LogFileName.entry(index)))
                continue
            }
            guard index == expected else { break }
            expected += 1
        }
        guard expected > lastIndex else {
            throw StorageError.corrupted(
                path: path(LogFileName.entry(expected)),
                reason: "entry \(expected) is missing: the log should hold entries \(compaction.index + 1) through \(lastIndex)")
        }
        // Makes the renames and deletions above durable before new calls build
        // on them (one sync per open).
        if sync { try FileSystem.syncDirectory(directory, counter: counter) }
        return RecoveredLog(record: record, compaction: compaction, lastIndex: lastIndex)
    }
}
