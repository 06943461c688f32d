import Raft
import StorageCore

/// The first start of a new cluster, and what a restart trusts.
///
/// Membership must not live only in each node's config file: nodes started
/// with different member lists would count different quorums, and two leaders
/// of one term become possible. So a new cluster's first start writes its
/// membership, with the cluster's ID, as a configuration entry at index 1 of
/// every initial member's log (identical on each, so log matching holds), and
/// from then on every start trusts what its stores hold. A node joining a
/// running cluster never bootstraps: it starts empty and learns both from the
/// leader.
public enum Bootstrap {
    /// Writes the bootstrap entry if the stores are new and `configuration`
    /// has voters (an empty one marks a joiner); returns whether it did.
    @discardableResult
    public static func bootstrapIfNew(
        log: any LogStore, state: any StateStore, configuration: ClusterConfiguration
    ) throws -> Bool {
        guard !configuration.voters.isEmpty, try isNew(log: log, state: state) else { return false }
        let entry = LogEntry(index: 1, term: 1, kind: .configuration, data: configuration.encoded())
        // Committed from the start: every initial member writes the same entry.
        try log.append([entry], hardState: HardState(term: 1, votedFor: nil, commit: 1))
        return true
    }

    static func isNew(log: any LogStore, state: any StateStore) throws -> Bool {
        try log.lastIndex() == 0 && log.snapshotIndex() == 0 && log.hardState() == .initial
            && state.appliedPosition() == .zero
    }

    /// The membership the stores hold: the last one the state store applied,
    /// or else the configuration entries in the log up to its commit index
    /// (a node that crashed right after bootstrapping has applied nothing).
    public static func storedConfiguration(log: any LogStore, state: any StateStore) throws -> ClusterConfiguration? {
        if let applied = try CommittedEntryApplier.configuration(in: state) { return applied }
        let first = try log.firstIndex()
        let last = min(try log.lastIndex(), try log.hardState().commit)
        guard first <= last else { return nil }
        var found: ClusterConfiguration?
        for entry in try log.entries(first...last, maxBytes: .max) where entry.kind == .configuration {
            found = try ClusterConfiguration(encoded: entry.data)
        }
        return found
    }
}
