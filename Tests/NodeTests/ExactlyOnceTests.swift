import Foundation
import MemoryBackend
import NoSQL
import Raft
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
        let cluster = try await LocalCluster(config: ClusterNodeTests.config("memory", directory: directory), seed: 21, logger: quietLogger())
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
        let cluster = try await LocalCluster(config: ClusterNodeTests.config("memory", directory: directory), seed: 22, logger: quietLogger())
        let leader = try await cluster.leader()
        for bad in ["", "has space", String(repeating: "k", count: 256), "é"] {
            await #expect(throws: NoSQLError.self) {
                _ = try await leader.write(.createTable(TableSchema(name: "tbl", partitionKey: "k")), idempotencyKey: bad)
            }
        }
        await cluster.stop()
    }

    /// Session records expire by log position, the same way on every node
    /// whatever its batching, and travel in the state store.
    @Test("a key is remembered for the window, then forgotten at the next expiry point")
    func sessionsExpireByLogPosition() throws {
        let store = try BackendRegistry.standard.openStateStore(
            backend: "memory", StoreOptions(directory: "/raftlab-sessions/\(UUID().uuidString)", sync: false))
        defer { try? store.close() }
        let machine = NoSQLRaftMachine(machine: NoSQLStateMachine(limits: .default))
        func entry(_ index: UInt64, key: String?, _ command: NoSQLCommand) throws -> LogEntry {
            let data = WriteEnvelope(idempotencyKey: key.map { Array($0.utf8) }, command: try NoSQLStateMachine(limits: .default).prepare(command)).encoded()
            return LogEntry(index: index, term: 1, kind: .command, data: data)
        }
        let create = NoSQLCommand.createTable(TableSchema(name: "tbl", partitionKey: "k"))
        _ = try CommittedEntryApplier.apply([try entry(5, key: "once", create)], machine: machine, store: store)
        #expect(try store.get(WriteSessions.sessionKey(Array("once".utf8))) != nil)

        // Just before the window ends, the key is still known.
        let early = (WriteSessions.window + 5) / WriteSessions.expiryInterval * WriteSessions.expiryInterval
        let put = NoSQLCommand.putItem(table: "tbl", item: ["k": .string("a")], expectedVersion: nil)
        _ = try CommittedEntryApplier.apply([try entry(early, key: nil, put)], machine: machine, store: store)
        #expect(try store.get(WriteSessions.sessionKey(Array("once".utf8))) != nil)

        // The first expiry point past the window forgets it, and its index record.
        let late = early + WriteSessions.expiryInterval
        _ = try CommittedEntryApplier.apply([try entry(late, key: nil, put)], machine: machine, store: store)
        #expect(try store.get(WriteSessions.sessionKey(Array("once".utf8))) == nil)
        #expect(try store.scan(prefix: WriteSessions.expiryPrefix).isEmpty)
    }
}
