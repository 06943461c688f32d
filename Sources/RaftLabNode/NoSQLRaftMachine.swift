import NoSQL
import Raft
import RaftRuntime
import StorageCore

/// Plugs the NoSQL state machine into the Raft runtime: a batch of committed
/// command entries becomes one write batch, and each entry's result travels
/// back to its proposer as bytes.
struct NoSQLRaftMachine: StateMachine {
    let machine: NoSQLStateMachine
    let observer: ApplyObserver?

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
        if let observer, let first = entries.first, let last = entries.last {
            observer(first.index...last.index, ContinuousClock.now)
        }
        return results
    }
}

/// Told which command indexes a node applied, and when: the benchmark's
/// replication lag is a follower's time minus the leader's for the same index.
/// It runs on the apply path, so it must be cheap.
public typealias ApplyObserver = @Sendable (ClosedRange<UInt64>, ContinuousClock.Instant) -> Void
