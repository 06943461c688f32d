import Raft
import StorageCore

/// The replicated state machine the runtime applies committed commands to.
///
/// The runtime hands over every committed client command of one batch at
/// once; the state machine records its writes in `batch`, which the runtime
/// applies to the state store together with the new applied position in one
/// atomic step. `store` shows the state before the batch: a command that
/// reads a key written earlier in the same batch must look in `batch` too.
/// Return one result per entry, in order; the proposer of each entry receives it.
///
/// # Results, not errors, for what an entry's content causes
/// Everything an entry can cause by its content — bytes that do not decode,
/// a command the machine refuses, writes past the store's limits — must be
/// that entry's result, computed the same on every replica: a committed
/// entry can never be taken back, so an entry that made `apply` throw would
/// fail on every node and at every restart. Throw only when the environment
/// fails (the store cannot be read, a record is corrupted): the runtime then
/// keeps the batch, stalls, and retries it until the store recovers
/// (`NodeStall`); nothing of a failed batch is written.
public protocol StateMachine: Sendable {
    func apply(_ entries: [LogEntry], to batch: inout WriteBatch, reading store: any StateStore) throws -> [[UInt8]]
}

/// Applies committed entries through one `WriteBatch` per call: the commands
/// through the state machine, membership changes under the reserved key.
public enum CommittedEntryApplier {
    /// Applies `entries` (contiguous, starting right after the store's applied
    /// index) and returns the state machine's result for each command index.
    public static func apply(
        _ entries: [LogEntry], machine: any StateMachine, store: any StateStore
    ) throws -> [UInt64: [UInt8]] {
        guard let last = entries.last else { return [:] }
        var batch = WriteBatch()
        let commands = entries.filter { $0.kind == .command }
        var results: [UInt64: [UInt8]] = [:]
        if !commands.isEmpty {
            let output = try machine.apply(commands, to: &batch, reading: store)
            guard output.count == commands.count else {
                throw RaftError.invalidArgument("the state machine returned \(output.count) results for \(commands.count) commands")
            }
            for (entry, result) in zip(commands, output) { results[entry.index] = result }
        }
        if let change = entries.last(where: { $0.kind == .configuration }) {
            batch.put(ClusterConfiguration.stateKey, change.data)
        }
        try store.apply(batch, through: AppliedPosition(index: last.index, term: last.term))
        return results
    }

    /// The membership recorded in `store`, if any change was ever applied.
    public static func configuration(in store: any StateStore) throws -> ClusterConfiguration? {
        guard let bytes = try store.get(ClusterConfiguration.stateKey) else { return nil }
        return try ClusterConfiguration(encoded: bytes)
    }
}
