import NoSQL
import Raft
import RaftRuntime
import StorageCore

/// Plugs the NoSQL state machine into the Raft runtime: a batch of committed
/// command entries becomes one write batch, and each entry's result travels
/// back to its proposer as bytes.
///
/// Each entry is a `WriteEnvelope` (or a `MemberRecordEnvelope`). One that carries an idempotency key seen
/// within the window is not applied again: its proposer receives the result
/// of the first application (see `WriteSessions`).
struct NoSQLRaftMachine: StateMachine {
    let machine: NoSQLStateMachine

    func apply(_ entries: [LogEntry], to batch: inout WriteBatch, reading store: any StateStore) throws -> [[UInt8]] {
        // Reads during apply must see the writes of earlier entries in this batch.
        var pending = PendingWrites(store: store, including: batch)
        // Sessions written by earlier entries of this batch (the store shows none of them).
        var sessions: [Bytes: WriteSessions.Record] = [:]
        var sessionWrites = WriteBatch()
        var results: [[UInt8]] = []
        results.reserveCapacity(entries.count)
        for entry in entries {
            try WriteSessions.expire(at: entry.index, reading: store, into: &sessionWrites)
            if MemberRecordEnvelope.isEnvelope(entry.data) {
                // A member record (see `MemberRegistry`): node metadata, not a NoSQL command.
                try MemberRecordEnvelope(decoding: entry.data).apply(to: &sessionWrites)
                results.append(AppliedWrite(appliedAt: entry.index, result: []).encoded())
                continue
            }
            let envelope = try WriteEnvelope(decoding: entry.data)
            if let key = envelope.idempotencyKey {
                let sessionKey = WriteSessions.sessionKey(key)
                if let seen = try sessions[sessionKey] ?? store.get(sessionKey).map(WriteSessions.Record.init(decoding:)) {
                    results.append(AppliedWrite(appliedAt: seen.appliedAt, result: seen.result).encoded())
                    continue
                }
                let result = CommandResultCodec.encode(try machine.apply(entry: envelope.command, at: entry.index, to: &pending))
                let record = WriteSessions.Record(appliedAt: entry.index, result: result)
                sessions[sessionKey] = record
                sessionWrites.put(sessionKey, record.encoded())
                sessionWrites.put(WriteSessions.expiryKey(key, appliedAt: entry.index), [])
                results.append(AppliedWrite(appliedAt: entry.index, result: result).encoded())
            } else {
                let result = try machine.apply(entry: envelope.command, at: entry.index, to: &pending)
                results.append(AppliedWrite(appliedAt: entry.index, result: CommandResultCodec.encode(result)).encoded())
            }
        }
        batch = pending.writeBatch
        for operation in sessionWrites.operations {
            switch operation {
            case .put(let key, let value): batch.put(key, value)
            case .delete(let key): batch.delete(key)
            }
        }
        return results
    }
}
