/// The largest key and value a state store holds: the cluster's limits,
/// equal on every engine.
///
/// Why one constant and not each engine's own ceiling: the state machine
/// decides whether a committed command succeeds, and it must decide the same
/// way on every replica, whichever engine each one runs (a leveldb learner in
/// an lmdb cluster, a cluster migrated between engines). So the state
/// machine checks its writes against these limits before it writes, and
/// every state store must hold any key and value within them — LMDB, whose
/// compiled-in key limit is 511 bytes, through the long-key layout described
/// in `LongKeys` — and refuse anything larger with `StorageError.invalidArgument`
/// (never a trap, never a partial batch).
///
/// The numbers leave room above what the NoSQL state machine can produce
/// from a valid item: its longest store key (a 255-byte table name, a
/// 2,048-byte binary partition key and a 1,024-byte sort key, each
/// order-preserving escaped) is about 6.4 KB, and its largest record (an
/// item of `NoSQLLimits.maxItemBytes` with its previous version) a few MB at
/// the largest item size a config may set.
public struct StateStoreLimits: Sendable, Hashable, CustomStringConvertible {
    /// Longest key, in bytes.
    public var maxKeyBytes: Int
    /// Longest value, in bytes.
    public var maxValueBytes: Int

    public init(maxKeyBytes: Int, maxValueBytes: Int) {
        self.maxKeyBytes = maxKeyBytes
        self.maxValueBytes = maxValueBytes
    }

    /// What every state store of a RaftLab cluster holds.
    public static let cluster = StateStoreLimits(maxKeyBytes: 8 << 10, maxValueBytes: 16 << 20)

    public var description: String { "keys up to \(maxKeyBytes) bytes, values up to \(maxValueBytes) bytes" }

    /// Whether a key and value fit.
    public func allows(key: Bytes, value: Bytes?) -> Bool {
        key.count <= maxKeyBytes && (value?.count ?? 0) <= maxValueBytes
    }

    /// Throws `.invalidArgument` naming the first pair that does not fit.
    public func check(key: Bytes, value: Bytes?) throws {
        guard key.count <= maxKeyBytes else {
            throw StorageError.invalidArgument(
                "a key of \(key.count) bytes is longer than a state store holds (\(maxKeyBytes) bytes)")
        }
        if let value, value.count > maxValueBytes {
            throw StorageError.invalidArgument(
                "a value of \(value.count) bytes is larger than a state store holds (\(maxValueBytes) bytes)")
        }
    }

    /// Checks every operation of `batch` before any of it is written.
    public func check(_ batch: WriteBatch) throws {
        for operation in batch.operations {
            switch operation {
            case .put(let key, let value): try check(key: key, value: value)
            case .delete(let key): try check(key: key, value: nil)
            }
        }
    }
}
