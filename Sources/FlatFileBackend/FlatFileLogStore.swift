import StorageCore
import Synchronization

/// A `LogStore` that keeps every entry in its own file (the layout of the
/// original simulator), see `LogFileName` for the directory.
///
/// How a call stays atomic: the `hardstate` file is the commit record
/// (`LogCommitRecord`: hard state + last index of the log), and replacing it
/// with one rename is the moment a call takes effect. Everything a call
/// writes before that rename is invisible after a crash (open deletes entry
/// files above the recorded end, and staged files of an uncommitted
/// generation); everything it leaves to do after the rename is redone or
/// cleaned up by open. So a crash at any point leaves the state before the
/// interrupted call or after it, never a mix.
///
/// The order inside each call:
/// - `append(entries, hardState:)`: (1) write each new entry file; an entry
///   whose index already holds a committed entry goes to a *staged* file
///   (`<index>.staged-<generation>`) instead of overwriting it; (2) fsync the
///   directory; (3) replace `hardstate` with the new end, generation and hard
///   state (commit point); (4) rename the staged files over their entries and
///   delete the entries above the new end, from the highest index down.
/// - `truncateSuffix(after:)`: replace `hardstate` with the new end (commit),
///   then delete the entry files above it, from the highest index down.
/// - `compact(through:term:)`: replace `snapshot_point` (commit), then delete
///   the entry files up to it, from the lowest index up.
///
/// Where it syncs (with `sync` on): an append of N entries costs N + 3 syncs
/// (fdatasync of each entry file; one fsync of the directory so the new files
/// exist before the record naming them; fdatasync of the new `hardstate` and
/// fsync of the directory after its rename). Saving the hard state alone,
/// truncating and compacting cost 2 syncs each (the record's fdatasync and the
/// directory fsync). Renames and deletions after a commit point are not synced
/// by that call: open repeats them if a crash lost them, and the next commit
/// makes them durable first (an extra directory fsync only when an overlapping
/// append left renames pending). With `sync` off nothing is synced; all steps
/// still happen in this order, which is what survives SIGKILL.
///
/// Thread safety: all state sits in a `Mutex` held for the whole call,
/// including its file operations, so calls are serialised.
final class FlatFileLogStore: LogStore {
    private struct State {
        var isClosed = false
        /// Set when a failed call left the directory in a state that recovery
        /// could not repair either; every later call reports it.
        var failure: StorageError?
        var record: LogCommitRecord
        var compaction: AppliedPosition
        var lastIndex: UInt64
        /// Term of the entry at `lastIndex`, once known (Raft asks for it often).
        var lastTerm: UInt64?
        /// Staged files were renamed after the last directory sync, so the next
        /// commit record must not become durable before those renames do.
        var renamesUnsynced = false

        init(_ recovered: RecoveredLog) {
            record = recovered.record
            compaction = recovered.compaction
            lastIndex = recovered.lastIndex
            lastTerm = recovered.lastIndex == recovered.compaction.index ? recovered.compaction.term : nil
        }
    }

    private let directory: String
    private let sync: Bool
    private let counter = SyncCounter()
    private let state: Mutex<State>

    init(_ options: StoreOptions) throws {
        try StoreDirectory.prepare(options.directory, backend: FlatFileBackend.backendName, kind: .log, sync: options.sync)
        directory = options.directory
        sync = options.sync
        state = Mutex(State(try RecoveredLog.recover(options.directory, sync: options.sync, counter: counter)))
    }

    var syncCount: UInt64 { counter.value }

    private func path(_ name: String) -> String { directory + "/" + name }

    // MARK: Reads

    func snapshotIndex() throws -> UInt64 { try withState { $0.compaction.index } }
    func firstIndex() throws -> UInt64 { try withState { $0.compaction.index + 1 } }
    func lastIndex() throws -> UInt64 { try withState { $0.lastIndex } }
    func hardState() throws -> HardState { try withState { $0.record.hardState } }

    func term(at index: UInt64) throws -> UInt64 {
        try withState { state in
            if index == state.compaction.index { return state.compaction.term }
            guard index > state.compaction.index else {
                throw StorageError.compacted(index: index, firstIndex: state.compaction.index + 1)
            }
            guard index <= state.lastIndex else {
                throw StorageError.unavailable(index: index, lastIndex: state.lastIndex)
            }
            if index == state.lastIndex, let term = state.lastTerm { return term }
            let term = try readEntry(index).term
            if index == state.lastIndex { state.lastTerm = term }
            return term
        }
    }

    func entries(_ range: ClosedRange<UInt64>, maxBytes: Int) throws -> [LogEntry] {
        try withState { state in
            guard range.lowerBound > state.compaction.index else {
                throw StorageError.compacted(index: range.lowerBound, firstIndex: state.compaction.index + 1)
            }
            guard range.upperBound <= state.lastIndex else {
                throw StorageError.unavailable(index: range.upperBound, lastIndex: state.lastIndex)
            }
            var result: [LogEntry] = []
            var bytes = 0
            for index in range {
                let entry = try readEntry(index)
                bytes += entry.data.count
                if !result.isEmpty, bytes > maxBytes { break }
                result.append(entry)
            }
            return result
        }
    }

    /// Reads one committed entry; a missing, torn or foreign file is `.corrupted`.
    private func readEntry(_ index: UInt64) throws -> LogEntry {
        let file = path(LogFileName.entry(index))
        guard let bytes = try FileSystem.readFile(file) else {
            throw StorageError.corrupted(path: file, reason: "the file of log entry \(index) is missing")
        }
        let entry = try LogEntryCodec.decode(bytes, source: file)
        guard entry.index == index else {
            throw StorageError.corrupted(path: file, reason: "the file of log entry \(index) holds entry \(entry.index)")
        }
        return entry
    }

    // MARK: Writes

    func append(_ entries: [LogEntry], hardState: HardState?) throws {
        try withState { state in
            guard let last = entries.last else {
                guard let hardState else { return }
                try repairing(&state) { state in
                    try commit(&state, hardState: hardState, lastIndex: state.lastIndex)
                }
                return
            }
            try LogAppendRules.check(entries, snapshotIndex: state.compaction.index, lastIndex: state.lastIndex)
            try repairing(&state) { state in
                let generation = state.record.generation + 1
                var staged: [UInt64] = []
                for entry in entries {
                    let bytes = LogEntryCodec.encode(entry)
                    if entry.index <= state.lastIndex {
                        // Overwriting a committed entry now would break atomicity.
                        staged.append(entry.index)
                        try FileSystem.writeFile(path(LogFileName.staged(entry.index, generation: generation)), bytes, sync: sync, counter: counter)
                    } else {
                        // Above the committed end: invisible until the record names it,
                        // so no temp file is needed.
                        try FileSystem.writeFile(path(LogFileName.entry(entry.index)), bytes, sync: sync, counter: counter)
                    }
                }
                if sync {
                    try FileSystem.syncDirectory(directory, counter: counter)
                    state.renamesUnsynced = false
                }
                let oldLast = state.lastIndex
                try commit(&state, hardState: hardState ?? state.record.hardState, lastIndex: last.index)
                state.lastTerm = last.term
                for index in staged {
                    try FileSystem.rename(path(LogFileName.staged(index, generation: generation)), to: path(LogFileName.entry(index)))
                }
                state.renamesUnsynced = !staged.isEmpty
                try deleteEntries(from: oldLast, downTo: last.index + 1)
            }
        }
    }

    func truncateSuffix(after index: UInt64) throws {
        try withState { state in
            guard index >= state.compaction.index else {
                throw StorageError.compacted(index: index, firstIndex: state.compaction.index + 1)
            }
            guard index < state.lastIndex else { return }
            try repairing(&state) { state in
                let oldLast = state.lastIndex
                try commit(&state, hardState: state.record.hardState, lastIndex: index)
                state.lastTerm = index == state.compaction.index ? state.compaction.term : nil
                try deleteEntries(from: oldLast, downTo: index + 1)
            }
        }
    }

    func compact(through index: UInt64, term: UInt64) throws {
        try withState { state in
            guard index > state.compaction.index else { return }
            try repairing(&state) { state in
                let compaction = AppliedPosition(index: index, term: term)
                try FileSystem.writeFileAtomically(path(LogFileName.snapshotPoint), PositionCodec.encode(compaction), sync: sync, counter: counter)
                let oldFirst = state.compaction.index + 1
                let oldLast = state.lastIndex
                state.compaction = compaction
                if index >= oldLast {
                    state.lastIndex = index
                    state.lastTerm = term
                }
                // Bottom up: if this stops early, what is left is still a log
                // with entries above the compaction point (open deletes the rest).
                var doomed = oldFirst
                while doomed <= min(index, oldLast) {
                    try FileSystem.removeFile(path(LogFileName.entry(doomed)))
                    doomed += 1
                }
            }
        }
    }

    /// Writes a new commit record: the moment a log change takes effect.
    private func commit(_ state: inout State, hardState: HardState, lastIndex: UInt64) throws {
        if sync, state.renamesUnsynced {
            try FileSystem.syncDirectory(directory, counter: counter)
        }
        state.renamesUnsynced = false
        let record = LogCommitRecord(hardState: hardState, lastIndex: lastIndex, generation: state.record.generation + 1)
        try FileSystem.writeFileAtomically(path(LogCommitRecord.fileName), record.encode(), sync: sync, counter: counter)
        state.record = record
        state.lastIndex = lastIndex
    }

    /// Deletes entry files from the highest index down, so that an
    /// interruption leaves a log that is still a prefix.
    private func deleteEntries(from high: UInt64, downTo low: UInt64) throws {
        var index = high
        while index >= low, index > 0 {
            try FileSystem.removeFile(path(LogFileName.entry(index)))
            index -= 1
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
    /// so the in-memory view is rebuilt the way `init` builds it. If even that
    /// fails, the store refuses all further calls rather than guess.
    private func repairing(_ state: inout State, _ body: (inout State) throws -> Void) throws {
        do {
            try body(&state)
        } catch {
            do {
                let isClosed = state.isClosed
                state = State(try RecoveredLog.recover(directory, sync: sync, counter: counter))
                state.isClosed = isClosed
            } catch let recoveryError as StorageError {
                state.failure = recoveryError
            } catch {
                state.failure = .engine(backend: FlatFileBackend.backendName, message: "\(error)")
            }
            throw error
        }
    }
}
