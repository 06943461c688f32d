import Raft
import StorageCore

/// Writes what a `Ready` asks to the stores, in the order the core relies on.
public enum ReadyPersistence {
    /// Installs the snapshot (if any) and persists entries and hard state:
    /// the one synced log write of a Ready. Call it only once every committed
    /// entry handed out before the snapshot was applied.
    ///
    /// The state store is restored first, then the log is cut: a crash in
    /// between leaves a state store ahead of the log, which `reconcile` repairs
    /// at restart. The reverse order could leave a log compacted past a state
    /// store that never received the data.
    public static func persist(
        _ ready: Ready, log: any LogStore, state: any StateStore, snapshotData: StagedSnapshot?
    ) throws {
        if let snapshot = ready.snapshot {
            guard let snapshotData else {
                throw RaftError.protocolViolation("no data for snapshot at index \(snapshot.index)")
            }
            try snapshotData.restore(into: state, position: AppliedPosition(index: snapshot.index, term: snapshot.term))
            try installSnapshotInLog(log, index: snapshot.index, term: snapshot.term)
        }
        if !ready.entries.isEmpty || ready.hardState != nil {
            try log.append(ready.entries, hardState: ready.hardState)
        }
    }

    /// Makes the log continue after a snapshot at (`index`, `term`) and
    /// compacts through it. Entries after it stay when the log holds the
    /// snapshot's own entry (Raft's InstallSnapshot rule, Figure 13 step 6);
    /// otherwise they conflict with it and go.
    static func installSnapshotInLog(_ log: any LogStore, index: UInt64, term: UInt64) throws {
        if try log.lastIndex() > index && log.snapshotIndex() < index {
            let held: UInt64?
            do { held = try log.term(at: index) } catch StorageError.compacted { held = nil }
            if held != term { try log.truncateSuffix(after: index) }
        }
        if try log.snapshotIndex() < index {
            try log.compact(through: index, term: term)
        }
    }

    /// Brings the two stores into agreement before a restart: a state store
    /// that is ahead of the log (a snapshot installed just before a crash)
    /// becomes the log's snapshot. Throws when the state store is behind the
    /// log's compaction point, because the entries between are gone.
    ///
    /// Returns false when the state store is behind the log's compaction
    /// point (its data was lost: a volatile store, a wiped directory): the
    /// entries between are gone, so the node must get a snapshot from the
    /// leader before it can apply anything (`RaftCore`'s `awaitingSnapshot`).
    @discardableResult
    public static func reconcile(log: any LogStore, state: any StateStore) throws -> Bool {
        let applied = try state.appliedPosition()
        let snapshotIndex = try log.snapshotIndex()
        if applied.index < snapshotIndex { return false }
        guard applied.index > snapshotIndex else { return true }
        let term: UInt64?
        do { term = try log.term(at: applied.index) } catch StorageError.unavailable { term = nil }
        if term != applied.term {
            try installSnapshotInLog(log, index: applied.index, term: applied.term)
        }
        return true
    }

    /// Drops log entries once more than `threshold` applied entries
    /// accumulated, keeping the last `keep` of them. The state store is
    /// checkpointed first, and the log is never compacted past the position
    /// that checkpoint made durable: after a power cut the state store may
    /// fall back to it, and a restart replays the log from there.
    ///
    /// Compacts at most `step` entries per `LogStore.compact` call, so a log
    /// append waiting for the store between two calls waits for one step,
    /// not for the whole compaction.
    @discardableResult
    public static func compactIfNeeded(
        log: any LogStore, state: any StateStore, appliedIndex: UInt64, threshold: UInt64, keep: UInt64,
        step: UInt64 = .max
    ) throws -> Bool {
        let snapshotIndex = try log.snapshotIndex()
        guard appliedIndex > snapshotIndex + threshold, appliedIndex > keep else { return false }
        let durable = try state.checkpoint().index
        return try compactLog(
            log, durableIndex: durable, appliedIndex: appliedIndex, threshold: threshold, keep: keep, step: step)
    }

    /// The second half of `compactIfNeeded`, once a checkpoint made the state
    /// store durable through `durableIndex`: compacts through
    /// `min(appliedIndex, durableIndex) - keep`, in steps.
    @discardableResult
    public static func compactLog(
        _ log: any LogStore, durableIndex: UInt64, appliedIndex: UInt64, threshold: UInt64, keep: UInt64,
        step: UInt64 = .max
    ) throws -> Bool {
        var compacted = try log.snapshotIndex()
        guard appliedIndex > compacted + threshold, durableIndex > keep else { return false }
        let target = min(appliedIndex, durableIndex) - keep
        guard target > compacted else { return false }
        while compacted < target {
            let through = target - compacted > step ? compacted + step : target
            guard let term = try? log.term(at: through) else { break }
            try log.compact(through: through, term: term)
            compacted = through
        }
        return true
    }
}
