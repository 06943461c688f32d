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
///
/// # What may go wrong, and who decides
/// Everything an entry's content can cause is that entry's result, computed
/// the same on every replica and recorded like any other (an exactly-once
/// retry gets it back): bytes that are no envelope or no command, a command
/// the state machine refuses (`NoSQLError`), writes past the cluster's
/// `StateStoreLimits`. Only the store failing under a read (a disk error, a
/// corrupted record) throws, which the runtime treats as the environment's
/// fault: it retries the batch and never skips or halts on an entry.
///
/// Every read and write of the batch — items, session records, the log
/// clock — goes through one overlay (`PendingWrites`), so a batch of N
/// entries leaves exactly the state N batches of one entry would.
struct NoSQLRaftMachine: StateMachine {
    let machine: NoSQLStateMachine
    var sessions = WriteSessions()

    func apply(_ entries: [LogEntry], to batch: inout WriteBatch, reading store: any StateStore) throws -> [[UInt8]] {
        var pending = PendingWrites(store: store, including: batch)
        var results: [[UInt8]] = []
        results.reserveCapacity(entries.count)
        for entry in entries {
            results.append(try apply(entry, to: &pending).encoded())
        }
        batch = pending.writeBatch
        return results
    }

    private func apply(_ entry: LogEntry, to pending: inout PendingWrites) throws -> AppliedWrite {
        func refused(_ error: NoSQLError) -> AppliedWrite {
            AppliedWrite(appliedAt: entry.index, result: CommandResultCodec.encode(.failure(error)))
        }
        if MemberRecordEnvelope.isEnvelope(entry.data) {
            // A member record (see `MemberRegistry`): node metadata, not a NoSQL command.
            let envelope: MemberRecordEnvelope
            do {
                envelope = try MemberRecordEnvelope(decoding: entry.data)
            } catch {
                return refused(NoSQLError(.invalidCommand, "the member record entry does not decode: \(error)"))
            }
            var writes = WriteBatch()
            envelope.apply(to: &writes)
            for operation in writes.operations {
                switch operation {
                case .put(let key, let value): pending.put(key, value)
                case .delete(let key): pending.delete(key)
                }
            }
            return AppliedWrite(appliedAt: entry.index, result: [])
        }
        let envelope: WriteEnvelope
        do {
            envelope = try WriteEnvelope(decoding: entry.data)
        } catch {
            return refused(error)
        }
        let clock = try sessions.advanceClock(to: envelope.stamp, in: &pending)
        guard let key = envelope.idempotencyKey else {
            return AppliedWrite(
                appliedAt: entry.index,
                result: CommandResultCodec.encode(try machine.apply(entry: envelope.command, at: entry.index, to: &pending)))
        }
        if let answer = try sessions.lookUp(
            key: key, command: envelope.command, issuedAt: envelope.issuedAt, index: entry.index, clock: clock, in: pending)
        {
            return answer
        }
        let result = CommandResultCodec.encode(try machine.apply(entry: envelope.command, at: entry.index, to: &pending))
        sessions.record(key: key, command: envelope.command, appliedAt: entry.index, clock: clock, result: result, in: &pending)
        return AppliedWrite(appliedAt: entry.index, result: result)
    }
}
