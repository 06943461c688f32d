import StorageCore
import Synchronization

/// A point-in-time view of an LMDB state store: one read-only transaction
/// (MVCC, so writes continue and never show through), owned by the
/// environment's reader table. Pairs come in the store's key order, short
/// and long keys merged: each step runs the store's own scan inside that
/// transaction from just after the last key returned (`key ‖ 0x00` is the
/// next possible key) and keeps up to `LMDBStateStore.snapshotBatch` pairs.
/// The read-ahead sits behind a lock; the environment serialises use of the
/// transaction.
///
/// Until `close()` the transaction pins the pages it sees, so the data file
/// cannot reuse them; closing the store ends the snapshot too (`.closed`).
final class LMDBStateSnapshot: StateSnapshot {
    let position: AppliedPosition
    private let environment: LMDBEnvironment
    private let reader: Int
    /// Pairs read ahead, the next one to return, and the lower bound of the next step (nil: done).
    private let ahead = Mutex((pairs: [KeyValue](), at: 0, from: Bytes?.some([])))

    init(environment: LMDBEnvironment, reader: Int, position: AppliedPosition) {
        self.environment = environment
        self.reader = reader
        self.position = position
    }

    func next() throws -> KeyValue? {
        try ahead.withLock { ahead in
            if ahead.at == ahead.pairs.count {
                guard let from = ahead.from else { return nil }
                let batch = LMDBStateStore.snapshotBatch
                let pairs = try environment.withReader(reader) { txn, data in
                    try LMDBStateStore.scan(txn, data, KeyRange(from: from), limit: batch.pairs, maxBytes: batch.bytes)
                }
                ahead.pairs = pairs
                ahead.at = 0
                ahead.from = pairs.last.map { $0.key + [0x00] }
                guard !pairs.isEmpty else { return nil }
            } else {
                // Read-ahead must not outlive the transaction: a closed store ends the snapshot.
                try environment.withReader(reader) { _, _ in }
            }
            defer { ahead.at += 1 }
            return ahead.pairs[ahead.at]
        }
    }

    func close() { environment.closeReader(reader) }

    /// A forgotten snapshot must not pin pages for the life of the store.
    deinit { environment.closeReader(reader) }
}
