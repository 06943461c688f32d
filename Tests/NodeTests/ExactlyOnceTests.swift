import Foundation
import MemoryBackend
import NoSQL
import Raft
import RaftLabAPI
import RaftLabBackends
@testable import RaftLabNode
import RaftRuntime
import StorageCore
import Synchronization
import Testing
import TestUtilities

/// Writes with an idempotency key apply at most once, even when a client
/// retries after an unknown outcome, on another node and after a leader change.
@Suite("Exactly-once writes", .serialized)
struct ExactlyOnceTests {
    /// The leader appends a keyed write and replicates it, but never hears the
    /// followers' acknowledgments, and stops: the client gets 504-style
    /// `outcomeUnknown`. The followers elect a new leader, which commits the
    /// entry. The client retries with the same key on the new leader and must
    /// get the first application back: the item is at the entry's version
    /// with no previous version (applied once), not at a second version.
    @Test("a write retried with its key after an unknown outcome is applied once")
    func retryAfterUnknownOutcome() async throws {
        let directory = ClusterNodeTests.temporaryDirectory("exactly-once")
        defer { MemoryBackendCleanup.forget(directory) }
        let cluster = try await LocalCluster(config: ClusterNodeTests.config("memory", directory: directory), registry: .standard, seed: 21, logger: quietLogger())
        _ = try await onLeader(cluster) { try await $0.write(.createTable(TableSchema(name: "tbl", partitionKey: "k"))) }
        let leader = try await cluster.leader()
        let put = NoSQLCommand.putItem(table: "tbl", item: ["k": .string("x"), "n": .bool(true)], expectedVersion: nil)

        // Followers' append acknowledgments never reach the leader.
        let leaderID = leader.id
        cluster.hub.setFilter { !($0.kind == .appendResponse && $0.to == leaderID) }
        let attempt = Task { try await leader.write(put, idempotencyKey: "retry-me-1") }
        let appended = ContinuousClock.now + .seconds(5)
        while await leader.raft.status.lastIndex < (await leader.raft.status.commitIndex) + 1, ContinuousClock.now < appended {
            try await Task.sleep(for: .milliseconds(2))
        }
        try await Task.sleep(for: .milliseconds(50))  // let the append reach the followers' logs
        await cluster.stop(leaderID)
        switch await attempt.result {
        case .failure(NodeError.outcomeUnknown): break
        case let other: Issue.record("expected an unknown outcome, got \(other)")
        }
        cluster.hub.setFilter(nil)

        // Retry on whoever leads now, with the same key: same result, applied once.
        let retried = try await onLeader(cluster) { try await $0.write(put, idempotencyKey: "retry-me-1") }
        let again = try await onLeader(cluster) { try await $0.write(put, idempotencyKey: "retry-me-1") }
        #expect(again.index == retried.index)
        let newLeader = try await cluster.leader()
        let item = try await newLeader.read(.strong) { machine, store in
            try machine.getItem(table: "tbl", key: ItemKey("x"), in: store)
        }
        #expect(item.version == retried.index, "the item was written again at \(item.version)")
        #expect(item.previous == nil, "a second application left a previous version \(String(describing: item.previous?.version))")

        // A different key is a different write: it applies.
        let other = try await onLeader(cluster) { try await $0.write(put, idempotencyKey: "retry-me-2") }
        #expect(other.index > retried.index)
        await cluster.stop()
    }

    @Test("keys are checked: 1-255 printable ASCII characters")
    func keysAreChecked() async throws {
        let directory = ClusterNodeTests.temporaryDirectory("exactly-once-keys")
        defer { MemoryBackendCleanup.forget(directory) }
        let cluster = try await LocalCluster(config: ClusterNodeTests.config("memory", directory: directory), registry: .standard, seed: 22, logger: quietLogger())
        let leader = try await cluster.leader()
        for bad in ["", "has space", String(repeating: "k", count: 256), "é"] {
            await #expect(throws: NoSQLError.self) {
                _ = try await leader.write(.createTable(TableSchema(name: "tbl", partitionKey: "k")), idempotencyKey: bad)
            }
        }
        await cluster.stop()
    }

    /// Session records expire by the log's clock, the same way on every
    /// node whatever its batching, and travel in the state store.
    @Test("a key is remembered for the window of log time, then forgotten")
    func sessionsExpireByLogClock() throws {
        let store = try SessionsFixture.store()
        defer { try? store.close() }
        let machine = NoSQLRaftMachine(machine: NoSQLStateMachine(limits: .default))
        let t0: UInt64 = 1_800_000_000_000
        let window = WriteSessions.defaultWindowMilliseconds
        _ = try CommittedEntryApplier.apply(
            [try SessionsFixture.entry(5, stamp: t0, key: "once", SessionsFixture.create)], machine: machine, store: store)
        #expect(try store.get(WriteSessions.sessionKey(Array("once".utf8))) != nil)

        // Nine and a half minutes of log time later the key is still known:
        // far longer than a client's retries last (the first release forgot
        // keys after 100,000 entries, seconds at the bench's write rates).
        let put = NoSQLCommand.putItem(table: "tbl", item: ["k": .string("a")], expectedVersion: nil)
        _ = try CommittedEntryApplier.apply(
            [try SessionsFixture.entry(6, stamp: t0 + window - 30_000, key: nil, put)], machine: machine, store: store)
        #expect(try store.get(WriteSessions.sessionKey(Array("once".utf8))) != nil)

        // Once the log clock passes the window, the record and its expiry entry go.
        _ = try CommittedEntryApplier.apply(
            [try SessionsFixture.entry(7, stamp: t0 + window + 1_000, key: nil, put)], machine: machine, store: store)
        #expect(try store.get(WriteSessions.sessionKey(Array("once".utf8))) == nil)
        #expect(try store.scan(prefix: WriteSessions.expiryPrefix).isEmpty)
    }

    @Test("a key reused with another request is refused, and the first write stays")
    func reusedKeyWithAnotherRequestIsRefused() throws {
        let store = try SessionsFixture.store()
        defer { try? store.close() }
        let machine = NoSQLRaftMachine(machine: NoSQLStateMachine(limits: .default))
        let t0: UInt64 = 1_800_000_000_000
        let first = NoSQLCommand.putItem(table: "tbl", item: ["k": .string("a"), "n": 1], expectedVersion: nil)
        let second = NoSQLCommand.putItem(table: "tbl", item: ["k": .string("a"), "n": 2], expectedVersion: nil)
        let results = try CommittedEntryApplier.apply(
            [
                try SessionsFixture.entry(1, stamp: t0, key: nil, SessionsFixture.create),
                try SessionsFixture.entry(2, stamp: t0, key: "same", first),
                try SessionsFixture.entry(3, stamp: t0, key: "same", second),
                try SessionsFixture.entry(4, stamp: t0, key: "same", first),
            ], machine: machine, store: store)
        func decoded(_ index: UInt64) throws -> (UInt64, CommandResult) {
            let applied = try AppliedWrite(decoding: results[index] ?? [])
            return (applied.appliedAt, try CommandResultCodec.decode(applied.result))
        }
        guard case .success = try decoded(2).1 else { Issue.record("the first write failed"); return }
        guard case .failure(let error) = try decoded(3).1 else { Issue.record("another request under the same key was answered as a retry"); return }
        #expect(error.code == .idempotencyKeyMismatch)
        #expect(error.httpStatus == 409)
        // The genuine retry still gets the first result.
        #expect(try decoded(4).0 == 2)
        let item = try NoSQLStateMachine(limits: .default).getItem(table: "tbl", key: ItemKey("a"), in: store)
        #expect(item.version == 2)
    }

    @Test("a retry first sent longer ago than the window is refused, not applied again")
    func retryAfterTheWindowIsRefused() throws {
        let store = try SessionsFixture.store()
        defer { try? store.close() }
        let machine = NoSQLRaftMachine(machine: NoSQLStateMachine(limits: .default))
        let t0: UInt64 = 1_800_000_000_000
        let window = WriteSessions.defaultWindowMilliseconds
        let put = NoSQLCommand.putItem(table: "tbl", item: ["k": .string("a")], expectedVersion: nil)
        _ = try CommittedEntryApplier.apply(
            [
                try SessionsFixture.entry(1, stamp: t0, key: nil, SessionsFixture.create),
                try SessionsFixture.entry(2, stamp: t0, key: "late", put, issuedAt: t0 - 500),
                // Much later: the record is gone, but the client says when it first sent the key.
                try SessionsFixture.entry(3, stamp: t0 + 2 * window, key: nil, SessionsFixture.noop),
            ], machine: machine, store: store)
        #expect(try store.get(WriteSessions.sessionKey(Array("late".utf8))) == nil)
        let results = try CommittedEntryApplier.apply(
            [try SessionsFixture.entry(4, stamp: t0 + 2 * window, key: "late", put, issuedAt: t0 - 500)], machine: machine, store: store)
        let applied = try AppliedWrite(decoding: results[4] ?? [])
        guard case .failure(let error) = try CommandResultCodec.decode(applied.result) else {
            Issue.record("a retry after the window was applied a second time")
            return
        }
        #expect(error.code == .idempotencyKeyExpired)
        let item = try NoSQLStateMachine(limits: .default).getItem(table: "tbl", key: ItemKey("a"), in: store)
        #expect(item.version == 2 && item.previous == nil)
    }

    /// The review's case, fixed: the first release read a retried key from
    /// the store as it was before the batch while the batch itself had
    /// expired it, so one batch skipped the retry and two batches applied it.
    @Test("an expiry and a late retry leave one state in one batch or in two")
    func expiryAndRetryInOneBatch() throws {
        let machine = NoSQLRaftMachine(machine: NoSQLStateMachine(limits: .default))
        let t0: UInt64 = 1_800_000_000_000
        let later = t0 + WriteSessions.defaultWindowMilliseconds + 1_000
        let put = NoSQLCommand.putItem(table: "tbl", item: ["k": .string("a")], expectedVersion: nil)
        var states: [[KeyValue]] = []
        for oneBatch in [true, false] {
            let store = try SessionsFixture.store()
            defer { try? store.close() }
            _ = try CommittedEntryApplier.apply(
                [try SessionsFixture.entry(1, stamp: t0, key: nil, SessionsFixture.create),
                 try SessionsFixture.entry(2, stamp: t0, key: "K", put)], machine: machine, store: store)
            let tail = [
                try SessionsFixture.entry(3, stamp: later, key: nil, SessionsFixture.noop),
                try SessionsFixture.entry(4, stamp: later, key: "K", put),
            ]
            if oneBatch {
                _ = try CommittedEntryApplier.apply(tail, machine: machine, store: store)
            } else {
                for entry in tail { _ = try CommittedEntryApplier.apply([entry], machine: machine, store: store) }
            }
            states.append(try store.scan(.all))
        }
        #expect(states[0] == states[1], "one batch and two batches of the same log left different states")
    }

    /// The property the runtime relies on: a node's state after an entry
    /// depends on the log alone. One seeded log of writes, keyed writes,
    /// retries, reused keys, transactions, deletes, member records, broken
    /// entries and jumps of the leaders' clocks (forwards past the window,
    /// backwards) is applied in many random batch splits, with snapshots
    /// restored into a fresh store and reopens between batches; every run
    /// must end with byte-identical state.
    ///
    /// The first release failed this: it looked retried keys up in the store
    /// as it was before the batch while the batch's own expiry had already
    /// deleted them, so an expiry and a late retry in one batch skipped the
    /// retry, and in two batches applied it.
    @Test("any batching of one log gives byte-identical state", arguments: [1 as UInt64, 2, 3, 4])
    func batchSplitsAgree(seed: UInt64) throws {
        let log = try SessionsFixture.randomLog(seed: seed, count: 400)
        var digests: Set<[UInt8]> = []
        var random = SplitMix64(seed: seed &* 7919)
        for split in 0..<12 {
            digests.insert(try SessionsFixture.applyInBatches(log, split: split, random: &random))
        }
        #expect(digests.count == 1, "seed \(seed): \(digests.count) different states from one log")
    }
}

/// Entries and stores for the session tests.
enum SessionsFixture {
    static let create = NoSQLCommand.createTable(TableSchema(name: "tbl", partitionKey: "k"))
    static let noop = NoSQLCommand.createTable(TableSchema(name: "other", partitionKey: "k"))

    static func store() throws -> any StateStore {
        try BackendRegistry.standard.openStateStore(
            backend: "memory", StoreOptions(directory: "/raftlab-sessions/\(UUID().uuidString)", sync: false))
    }

    static func entry(
        _ index: UInt64, stamp: UInt64, key: String?, _ command: NoSQLCommand, issuedAt: UInt64? = nil
    ) throws -> LogEntry {
        let data = WriteEnvelope(
            idempotencyKey: key.map { Array($0.utf8) }, command: try NoSQLStateMachine(limits: .default).prepare(command),
            stamp: stamp, issuedAt: issuedAt
        ).encoded()
        return LogEntry(index: index, term: 1, kind: .command, data: data)
    }

    /// A log that exercises every path of the sessions and the apply loop.
    static func randomLog(seed: UInt64, count: Int) throws -> [LogEntry] {
        var random = SplitMix64(seed: seed)
        var entries: [LogEntry] = [try entry(1, stamp: 1_800_000_000_000, key: nil, create)]
        var clock: UInt64 = 1_800_000_000_000
        var keyed: [(key: String, command: NoSQLCommand, issued: UInt64)] = []
        let window = WriteSessions.defaultWindowMilliseconds
        for index in 2...UInt64(count) {
            // The leaders' clocks: mostly small steps, sometimes a jump past
            // the window, sometimes a leader whose clock is behind.
            switch random.next() % 20 {
            case 0: clock += window / 2 + random.next() % window
            case 1: clock -= min(clock, random.next() % 5_000)
            default: clock += random.next() % 2_000
            }
            let item: JSONValue = ["k": .string("k\(random.next() % 12)"), "n": .number(JSONNumber(Int(random.next() % 1000)))]
            let put = NoSQLCommand.putItem(table: "tbl", item: item, expectedVersion: nil)
            switch random.next() % 10 {
            case 0, 1:
                let key = "key-\(index)"
                keyed.append((key, put, clock))
                entries.append(try entry(index, stamp: clock, key: key, put, issuedAt: clock))
            case 2 where !keyed.isEmpty, 3 where !keyed.isEmpty:
                // A retry of an earlier key (maybe after its record expired).
                let earlier = keyed[Int(random.next() % UInt64(keyed.count))]
                entries.append(try entry(index, stamp: clock, key: earlier.key, earlier.command, issuedAt: earlier.issued))
            case 4 where !keyed.isEmpty:
                // An earlier key with another request.
                let earlier = keyed[Int(random.next() % UInt64(keyed.count))]
                entries.append(try entry(index, stamp: clock, key: earlier.key, put, issuedAt: earlier.issued))
            case 5:
                let writes = [
                    ItemWrite(table: "tbl", action: .put(Item(json: item))),
                    ItemWrite(table: "tbl", action: .delete(key: ItemKey("k\(random.next() % 12 + 12)"))),
                ]
                entries.append(try entry(index, stamp: clock, key: random.next() % 2 == 0 ? "tx-\(index)" : nil, .transactWrite(writes)))
            case 6:
                entries.append(try entry(
                    index, stamp: clock, key: nil, .deleteItem(table: "tbl", key: ItemKey("k\(random.next() % 12)"), expectedVersion: nil)))
            case 7:
                // Bytes that are no envelope: a deterministic error result.
                entries.append(LogEntry(index: index, term: 1, kind: .command, data: [0x42, 0x00, 0x01]))
            case 8:
                let record = MemberRecord(
                    id: random.next() % 5 + 1, raftAddress: HostPort(host: "127.0.0.1", port: Int(7000 + index)),
                    httpAddress: HostPort(host: "127.0.0.1", port: Int(8000 + index)), logBackend: "memory", stateBackend: "memory")
                entries.append(LogEntry(index: index, term: 1, kind: .command, data: MemberRecordEnvelope(.put(record)).encoded()))
            default:
                entries.append(try entry(index, stamp: clock, key: nil, put))
            }
        }
        return entries
    }

    /// Applies `log` in batches cut at random, with a snapshot restored
    /// into a fresh store now and then; returns a digest of the final state.
    static func applyInBatches(_ log: [LogEntry], split: Int, random: inout SplitMix64) throws -> [UInt8] {
        let machine = NoSQLRaftMachine(machine: NoSQLStateMachine(limits: .default))
        var store = try store()
        defer { try? store.close() }
        var position = 0
        while position < log.count {
            // split 0: one entry per batch; split 1: everything at once; else random sizes.
            let size = split == 0 ? 1 : split == 1 ? log.count : Int(random.next() % 40) + 1
            let batch = Array(log[position..<min(log.count, position + size)])
            _ = try CommittedEntryApplier.apply(batch, machine: machine, store: store)
            position += batch.count
            if split > 1, random.next() % 6 == 0 {
                // A follower installs a snapshot of this state instead.
                let snapshot = try store.snapshot()
                var source = try ArrayKeyValueSource(snapshot.readAll())
                let copy = try Self.store()
                try copy.restore(from: &source, position: snapshot.position)
                snapshot.close()
                try store.close()
                store = copy
            }
        }
        var digest: [UInt8] = []
        for pair in try store.scan(.all) {
            digest += WriteSessionsDigest.of(pair)
        }
        return digest
    }
}

/// Every pair written out with its lengths, so two states compare byte for byte.
enum WriteSessionsDigest {
    static func of(_ pair: KeyValue) -> [UInt8] {
        UInt64(pair.key.count).bigEndianBytes + pair.key + UInt64(pair.value.count).bigEndianBytes + pair.value
    }
}
