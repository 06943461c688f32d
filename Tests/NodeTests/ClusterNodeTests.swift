import Foundation
import MemoryBackend
import NoSQL
import Raft
import RaftLabAPI
import RaftRuntime
import RaftLabBackends
import RaftLabNode
import StorageCore
import Testing
import TestUtilities

/// A node is Raft + NoSQL + the stores its config names; these run the
/// original's operations through `NoSQLService` on a 3-node cluster in one
/// process, for every backend.
@Suite("Cluster node", .serialized)
struct ClusterNodeTests {
    static func config(_ backend: String, directory: String, sync: Bool = true) -> ClusterConfig {
        var config = ClusterConfig.standard
        config.storage.log = backend
        config.storage.state = backend
        config.storage.sync = sync
        config.storage.dataDirectory = directory
        // Elections take 200-400 ms: slow enough that a loaded CI machine
        // does not depose a leader in the middle of a test.
        config.engine.tickMilliseconds = 10
        config.engine.electionTicks = 20
        return config
    }

    static func temporaryDirectory(_ label: String) -> String {
        NSTemporaryDirectory() + "raftlab-node-\(label)-\(UUID().uuidString)"
    }

    func item(_ json: String) throws -> JSONValue { try JSONValue.parse(json) }

    /// Waits until every running node has applied at least `index`.
    func waitForApply(_ cluster: LocalCluster, _ index: UInt64) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            var all = true
            for node in cluster.nodes where try await node.status().appliedIndex < index { all = false }
            if all { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        Issue.record("nodes did not apply index \(index) within 10 s")
    }

    @Test("the demo scenario, redirects and strong reads, then a restart replays only the tail",
          arguments: ["memory", "flatfile", "lmdb", "leveldb"])
    func demoScenarioAndRestart(backend: String) async throws {
        let directory = Self.temporaryDirectory(backend)
        defer {
            try? FileSystem.removeTree(directory)
            MemoryBackendCleanup.forget(directory)
        }
        let config = Self.config(backend, directory: directory)
        let cluster = try await LocalCluster(config: config, registry: .standard, seed: 7, logger: quietLogger())
        _ = try await cluster.leader()

        _ = try await onLeader(cluster) { try await $0.write(.createTable(TableSchema(name: "Music", partitionKey: "Artist", sortKey: "SongTitle"))) }
        _ = try await onLeader(cluster) { try await $0.write(.putItem(table: "Music", item: try item(#"{"Artist":"The Beatles","SongTitle":"Let It Be","Album":"Let It Be","Year":1970}"#), expectedVersion: nil)) }
        let second = try await onLeader(cluster) { try await $0.write(.putItem(table: "Music", item: try item(#"{"Artist":"Queen","SongTitle":"Bohemian Rhapsody","Album":"A Night at the Opera","Year":1975}"#), expectedVersion: nil)) }
        let key = ItemKey("The Beatles", "Let It Be")
        let fromLeader = try await onLeader(cluster) { node in
            try await node.read(.local) { machine, store in try machine.getItem(table: "Music", key: key, in: store) }
        }
        #expect(fromLeader.item["Year"] == JSONValue(integerLiteral: 1970))

        // A follower refuses writes and names the leader; its strong read sees the last write.
        let current = try await cluster.leader()
        let follower = try #require(cluster.nodes.first { $0.id != current.id })
        do {
            _ = try await follower.write(.deleteTable(name: "Music"))
            Issue.record("a follower accepted a write")
        } catch let error as NodeError {
            switch error {
            case let .notLeader(leaderID, address):
                #expect(leaderID != follower.id)
                #expect(address == (try config.node(leaderID).httpAddress))
            case .noLeader: break  // leadership moved in between: also a refusal
            default: Issue.record("a follower refused a write with \(error)")
            }
        }
        let strong = try await retryingLeadership {
            try await follower.read(.strong) { machine, store in
                try machine.getItem(table: "Music", key: ItemKey("Queen", "Bohemian Rhapsody"), in: store)
            }
        }
        #expect(strong.version == second.index)

        // Optimistic locking: a stale expected version is a conflict and changes nothing.
        await #expect(throws: NoSQLError.self) {
            _ = try await onLeader(cluster) { try await $0.write(.putItem(table: "Music", item: try item(#"{"Artist":"Queen","SongTitle":"Bohemian Rhapsody","Year":1}"#), expectedVersion: second.index - 1)) }
        }
        // The conflicting put went through the log too: wait for everything committed.
        try await waitForApply(cluster, try await cluster.leader().status().commitIndex)

        // Every node's full state is byte-identical.
        var scans: [[KeyValue]] = []
        for node in cluster.nodes { scans.append(try node.stateStore.scan(.all)) }
        #expect(scans.allSatisfy { $0 == scans[0] })

        // Restart a follower from its stores: it resumes from its applied index.
        let before = try await follower.status().appliedIndex
        await cluster.stop(follower.id)
        try await cluster.start(follower.id)
        let restarted = try #require(cluster.node(follower.id))
        #expect(try await restarted.status().appliedIndex >= before)
        let after = try await onLeader(cluster) { try await $0.write(.putItem(table: "Music", item: try item(#"{"Artist":"The Beatles","SongTitle":"Yesterday","Year":1965}"#), expectedVersion: nil)) }
        try await waitForApply(cluster, after.index)
        let page = try await restarted.read(.local) { machine, store in
            try machine.query(ItemQuery(table: "Music", partitionKey: .string("The Beatles")), in: store)
        }
        #expect(page.items.map { $0.item["SongTitle"]?.stringValue } == ["Let It Be", "Yesterday"])
        await cluster.stop()

        // A whole-cluster restart keeps every acknowledged write on the disk backends.
        guard backend != "memory" else { return }
        let again = try await LocalCluster(config: config, registry: .standard, seed: 8, logger: quietLogger())
        _ = try await again.leader()
        let kept = try await onLeader(again) { node in
            try await node.read(.strong) { machine, store in
                try machine.getItem(table: "Music", key: ItemKey("The Beatles", "Yesterday"), in: store)
            }
        }
        #expect(kept.version == after.index)
        await again.stop()
    }

    @Test("bad input is refused before it reaches the log")
    func badInputNeverReachesTheLog() async throws {
        let directory = Self.temporaryDirectory("bad")
        defer { MemoryBackendCleanup.forget(directory) }
        let cluster = try await LocalCluster(config: Self.config("memory", directory: directory), registry: .standard, seed: 3, logger: quietLogger())
        let leader = try await cluster.leader()
        let before = await leader.raft.status
        await #expect(throws: NoSQLError.self) {
            _ = try await leader.write(.createTable(TableSchema(name: "", partitionKey: "pk")))
        }
        let after = await leader.raft.status
        // A new term would add the new leader's empty entry: compare within one term.
        if after.term == before.term {
            #expect(after.lastIndex == before.lastIndex)
        }
        await cluster.stop()
    }
}

/// Runs `body` until it stops failing for lack of a leader. A loaded machine
/// (CI runs the simulation beside these tests) may starve a leader's ticks
/// long enough for check-quorum to depose it, as a real client would see;
/// not-leader and no-leader mean nothing was applied, so retrying is safe.
func retryingLeadership<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    let deadline = ContinuousClock.now + .seconds(30)
    while true {
        do {
            return try await body()
        } catch let error as NodeError where ContinuousClock.now < deadline {
            switch error {
            case .notLeader, .noLeader: try await Task.sleep(for: .milliseconds(20))
            default: throw error
            }
        } catch let error as RaftError where ContinuousClock.now < deadline {
            guard case .notLeader = error else { throw error }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// Runs `body` on whichever node leads now, again if leadership moves.
func onLeader<T: Sendable>(_ cluster: LocalCluster, _ body: (ClusterNode) async throws -> T) async throws -> T {
    try await retryingLeadership { try await body(try await cluster.leader(within: .seconds(30))) }
}

enum MemoryBackendCleanup {
    static func forget(_ directory: String) { MemoryBackend.removeAll(under: directory) }
}

@Suite("Cluster node recovery", .serialized)
struct ClusterNodeRecoveryTests {
    @Test("a new, empty node joins as a learner and catches up through InstallSnapshot", arguments: ["memory", "lmdb"])
    func newNodeJoinsThroughSnapshot(backend: String) async throws {
        let directory = ClusterNodeTests.temporaryDirectory("join-\(backend)")
        defer {
            try? FileSystem.removeTree(directory)
            MemoryBackendCleanup.forget(directory)
        }
        var config = ClusterNodeTests.config(backend, directory: directory, sync: false)
        config.engine.snapshotEntries = 100
        config.engine.snapshotKeepEntries = 10
        config.nodes.append(ClusterConfig.Node(
            id: 4, raftAddress: HostPort(host: "127.0.0.1", port: 9103), httpAddress: HostPort(host: "127.0.0.1", port: 8103)))
        let cluster = try await LocalCluster(config: config, voters: 3, registry: .standard, seed: 11, logger: quietLogger())
        _ = try await onLeader(cluster) { try await $0.write(.createTable(TableSchema(name: "tbl", partitionKey: "k"))) }
        var last: UInt64 = 0
        for i in 0..<400 {
            last = try await onLeader(cluster) { try await $0.write(.putItem(table: "tbl", item: ["k": .string("key-\(i)")], expectedVersion: nil)) }.index
        }
        // The leader compacts (in the background): entry 1 goes, so only a snapshot can bring a new node up.
        let compacted = ContinuousClock.now + .seconds(10)
        while try await cluster.leader().status().firstIndex <= 1, ContinuousClock.now < compacted {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(try await cluster.leader().status().firstIndex > 1)
        try await cluster.start(4, joining: true)
        try await onLeader(cluster) { try await $0.raft.addLearner(4) }
        let deadline = ContinuousClock.now + .seconds(20)
        var applied: UInt64 = 0
        while ContinuousClock.now < deadline {
            applied = try await #require(cluster.node(4)).status().appliedIndex
            if applied >= last { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(applied >= last, "the new node applied \(applied) of \(last)")
        let item = try await #require(cluster.node(4)).read(.local) { machine, store in
            try machine.getItem(table: "tbl", key: ItemKey("key-399"), in: store)
        }
        #expect(item.version == last)
        #expect(try await #require(cluster.node(4)).status().learners == [4])
        await cluster.stop()
    }
}
