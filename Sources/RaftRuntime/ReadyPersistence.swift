import Raft
import StorageCore

/// Writes what a `Ready` asks to the stores, in the order the core relies on.
public enum ReadyPersistence {
    /// Installs the snapshot (if any) and persists entries and hard state.
    ///
    /// The state store is restored first, then the log is cut: a crash in
    /// between leaves a state store ahead of the log, which `reconcile` repairs
    /// at restart. The reverse order could leave a log compacted past a state
    /// store that never received the data.
    public static func persist(
        _ ready: Ready, log: any LogStore, state: any StateStore, snapshotData: [UInt8]?
    ) throws {
        if let snapshot = ready.snapshot {
            guard let snapshotData else {
                throw RaftError.protocolViolation("no data for snapshot at index \(snapshot.index)")
            }
            var source = SnapshotStream.Reader(snapshotData)
            try state.restore(from: &source, position: AppliedPosition(index: snapshot.index, term: snapshot.term))
            try installSnapshotInLog(log, index: snapshot.index, term: snapshot.term)
        }
        if !ready.entries.isEmpty || ready.hardState != nil {
            try log.append(ready.entries, hardState: ready.hardState)
        }
    }

    /// Makes the log continue after a snapshot at (`index`, `term`): drops
    /// entries after it (they conflict with the snapshot, or the core would not
    /// have restored it) and compacts through it.
    static func installSnapshotInLog(_ log: any LogStore, index: UInt64, term: UInt64) throws {
        if try log.lastIndex() > index && log.snapshotIndex() < index {
            try log.truncateSuffix(after: index)
        }
        if try log.snapshotIndex() < index {
            try log.compact(through: index, term: term)
        }
    }

    /// Brings the two stores into agreement before a restart: a state store
    /// that is ahead of the log (a snapshot installed just before a crash)
    /// becomes the log's snapshot. Throws when the state store is behind the
    /// log's compaction point, because the entries between are gone.
    public static func reconcile(log: any LogStore, state: any StateStore) throws {
        let applied = try state.appliedPosition()
        let snapshotIndex = try log.snapshotIndex()
        if applied.index < snapshotIndex {
            throw RaftError.protocolViolation(
                "the state store applied through \(applied.index) but the log was compacted through \(snapshotIndex)")
        }
        guard applied.index > snapshotIndex else { return }
        let term: UInt64?
        do { term = try log.term(at: applied.index) } catch StorageError.unavailable { term = nil }
        if term != applied.term {
            try installSnapshotInLog(log, index: applied.index, term: applied.term)
        }
    }

    /// Drops log entries once more than `threshold` applied entries
    /// accumulated, keeping the last `keep` of them. The state store is
    /// checkpointed first, and the log is never compacted past the position
    /// that checkpoint made durable: after a power cut the state store may
    /// fall back to it, and a restart replays the log from there.
    @discardableResult
    public static func compactIfNeeded(
        log: any LogStore, state: any StateStore, appliedIndex: UInt64, threshold: UInt64, keep: UInt64
    ) throws -> Bool {
        let snapshotIndex = try log.snapshotIndex()
        guard appliedIndex > snapshotIndex + threshold, appliedIndex > keep else { return false }
        let durable = try state.checkpoint().index
        guard durable > keep else { return false }
        let through = min(appliedIndex, durable) - keep
        guard through > snapshotIndex, let term = try? log.term(at: through) else { return false }
        try log.compact(through: through, term: term)
        return true
    }
}
