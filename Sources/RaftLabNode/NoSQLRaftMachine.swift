import NoSQL
import Raft
import StorageCore

/// Plugs the NoSQL state machine into the Raft runtime: a batch of committed
/// command entries becomes one write batch, and each entry's result travels
/// back to its proposer as bytes.
struct NoSQLRaftMachine: StateMachine {
    let machine: NoSQLStateMachine

    func apply(_ entries: [LogEntry], to batch: inout WriteBatch, reading store: any StateStore) throws -> [[UInt8]] {
        // Reads during apply must see the writes of earlier entries in this batch.
        var pending = PendingWrites(store: store, including: batch)
        var results: [[UInt8]] = []
        results.reserveCapacity(entries.count)
        for entry in entries {
            let result = try machine.apply(entry: entry.data, at: entry.index, to: &pending)
            results.append(CommandResultCodec.encode(result))
        }
        batch = pending.writeBatch
        return results
    }
}
