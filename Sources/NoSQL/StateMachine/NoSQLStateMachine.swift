import StorageCore

/// The NoSQL state machine: tables and items over any `StateStore`.
///
/// A pure value: all state lives in the store, so a node can create one
/// wherever it needs it. The only configuration is `limits`, which must be
/// the same on every node (see `NoSQLLimits`).
///
/// # Writes
/// 1. The server builds a `NoSQLCommand` and calls `prepare`, which validates
///    it and returns the bytes to propose.
/// 2. For each batch of committed log entries every node calls `apply`, which
///    fills one `WriteBatch`, and commits it with `StateStore.apply(_:through:)`.
///
/// # Determinism
/// A command's effect depends only on the state and the command's log index:
/// no clocks, no randomness, no iteration over unordered collections into
/// the store. So the same log gives byte-identical state everywhere.
///
/// # Last write wins
/// Every write is stamped with its log index. The store remembers the highest
/// index a command was applied at (`StorageLayout.lastIndexKey`); a command
/// at or below it is refused as `stale_write` and changes nothing, so a
/// stale index never overwrites newer state: not an item (each item's
/// version is at most that index), and not a delete or a table change
/// either, which leave no per-item stamp behind. Failed commands still use
/// up their index.
///
/// # Errors
/// Client mistakes become `.failure` results and write nothing. `apply`
/// throws only when the store itself fails or holds a corrupted record; the
/// node must then not commit the batch (the runtime retries the whole batch
/// until the store recovers), because a partial batch would diverge from
/// other nodes. A command whose writes would exceed `StateStoreLimits.cluster`
/// fails as `item_too_large` and writes nothing, the same on every engine.
public struct NoSQLStateMachine: Sendable {
    public let limits: NoSQLLimits

    public init(limits: NoSQLLimits = .default) {
        self.limits = limits
    }

    // MARK: Proposing

    /// Validates `command` and returns the log entry bytes to propose.
    ///
    /// With a `store` (the node's own state, possibly a little behind the
    /// log), also checks what the state can tell now: the table exists (or,
    /// for create-table, does not) and the item's key attributes match its
    /// schema. These are early answers for the client; `apply` checks again
    /// and decides. Throws `NoSQLError`, or `StorageError` if the store fails.
    public func prepare(_ command: NoSQLCommand, checkingAgainst store: (any StateStore)? = nil) throws -> Bytes {
        try command.validate(limits: limits)
        try command.validateExpressions()
        if let store {
            let reader = StoreReader(store: store)
            switch command {
            case .createTable(let schema):
                if try loadTable(schema.name, from: reader) != nil { throw tableExists(schema.name) }
            case .transactWrite(let writes):
                for write in writes {
                    let table = try requireTable(write.table, from: reader)
                    _ = try write.key(in: table.schema, limits: limits)
                }
            default:
                let table = try requireTable(command.table, from: reader)
                _ = try command.validate(against: table.schema, limits: limits)
            }
        }
        return command.encoded()
    }

    // MARK: Applying

    /// Applies `command` at log `index` into `pending`. See the type's
    /// documentation for results versus thrown errors.
    public func apply(_ command: NoSQLCommand, at index: UInt64, to pending: inout PendingWrites) throws -> CommandResult {
        try stamped(index, &pending) { pending throws in try execute(command, at: index, &pending) }
    }

    /// Decodes a log entry's data and applies it; bytes that do not decode
    /// are an `invalid_command` result (the same on every node).
    public func apply(entry data: Bytes, at index: UInt64, to pending: inout PendingWrites) throws -> CommandResult {
        try stamped(index, &pending) { pending throws in
            try execute(try NoSQLCommand(decoding: data), at: index, &pending)
        }
    }

    /// Applies `command` into `batch`, reading `store` under the batch's
    /// pending writes. `batch` is replaced by an equivalent batch (one
    /// operation per key, in key order) that includes the new writes.
    /// Rebuilds the overlay on every call; for many commands use `PendingWrites`.
    public func apply(_ command: NoSQLCommand, at index: UInt64, batch: inout WriteBatch, store: any StateStore) throws
        -> CommandResult
    {
        var pending = PendingWrites(store: store, including: batch)
        let result = try apply(command, at: index, to: &pending)
        batch = pending.writeBatch
        return result
    }

    /// Applies the command entries among `entries` (no-ops and configuration
    /// entries are skipped) into one batch, in order. The caller may add its
    /// own writes (0xFF keys) and commits it with
    /// `store.apply(batch, through: position of the last entry)`.
    public func apply(_ entries: [LogEntry], store: any StateStore) throws -> (batch: WriteBatch, results: [AppliedCommand]) {
        var pending = PendingWrites(store: store)
        var results: [AppliedCommand] = []
        for entry in entries where entry.kind == .command {
            results.append(AppliedCommand(index: entry.index, result: try apply(entry: entry.data, at: entry.index, to: &pending)))
        }
        return (pending.writeBatch, results)
    }

    /// The highest log index a command was applied at (0 for a new store).
    public func lastAppliedIndex(in store: any StateStore) throws -> UInt64 {
        try lastAppliedIndex(from: StoreReader(store: store))
    }

    /// The stale check and the index stamp around one command; turns the
    /// command's `NoSQLError` into a failure result.
    private func stamped(
        _ index: UInt64, _ pending: inout PendingWrites, _ body: (inout PendingWrites) throws -> CommandOutcome
    ) throws -> CommandResult {
        let last = try lastAppliedIndex(from: pending)
        guard index > last else {
            return .failure(
                NoSQLError(.staleWrite, "command at log index \(index) is stale: index \(last) is already applied"))
        }
        pending.put(StorageLayout.lastIndexKey, index.bigEndianBytes)
        pending.begin()
        let outcome: CommandOutcome
        do {
            outcome = try body(&pending)
        } catch let error as NoSQLError {
            pending.undo()
            return .failure(error)
        } catch {
            pending.undo()
            throw error
        }
        // Every replica holds what the cluster's limits allow, whichever
        // engine it runs; a command whose writes would not fit fails here,
        // the same way everywhere, instead of in the store.
        if let problem = pending.check(.cluster) {
            pending.undo()
            return .failure(NoSQLError(.itemTooLarge, "the write cannot be stored: \(problem)"))
        }
        pending.end()
        return .success(outcome)
    }

    func lastAppliedIndex(from reader: some KeyLookup) throws -> UInt64 {
        guard let bytes = try reader.get(StorageLayout.lastIndexKey) else { return 0 }
        guard let index = UInt64(bigEndianBytes: bytes) else {
            throw StorageError.corrupted(path: "nosql last applied index", reason: "expected 8 bytes, found \(bytes.count)")
        }
        return index
    }
}
