import Foundation
import MemoryBackend
import Raft
import RaftLabBackends
import RaftLabNode
import RaftRuntime
import StorageCore
import Testing

/// Membership and cluster identity come from the stores once a cluster is
/// bootstrapped, not from each node's config file.
@Suite("Bootstrap and cluster identity", .serialized)
struct BootstrapTests {
    static func config(_ ids: [UInt64], directory: String) -> ClusterConfig {
        var config = ClusterConfig(nodes: ids.map { id in
            ClusterConfig.Node(
                id: id, raftAddress: HostPort(host: "127.0.0.1", port: 19_000 + Int(id)),
                httpAddress: HostPort(host: "127.0.0.1", port: 18_000 + Int(id)))
        })
        config.storage.dataDirectory = directory
        config.engine.electionTicks = 10
        return config
    }

    /// Node 1 is started with a config that lists only itself, nodes 2 and 3
    /// with one that lists all three. Without a cluster identity, node 1
    /// elects itself (a quorum of one) while 2 and 3 elect one of them, and
    /// both leaders of that term accept writes: two leaders in one term, in
    /// what the nodes take for one cluster. With it, their cluster IDs differ
    /// and every message between the two groups is dropped unread.
    @Test("nodes started with conflicting member lists never form two leaders of one term in one cluster")
    func conflictingMemberLists() async throws {
        let directory = NSTemporaryDirectory() + "raftlab-bootstrap-\(UUID().uuidString)"
        defer { MemoryBackend.removeAll(under: directory) }
        let hub = InProcessHub()
        let alone = Self.config([1], directory: directory)
        let all = Self.config([1, 2, 3], directory: directory)
        var nodes: [ClusterNode] = []
        nodes.append(try ClusterNode(id: 1, config: alone, transport: hub.transport(for: 1), randomSeed: 1))
        for id: UInt64 in [2, 3] {
            nodes.append(try ClusterNode(id: id, config: all, transport: hub.transport(for: id), randomSeed: id))
        }
        // Node 1 leads its cluster of one before the others start campaigning.
        try await nodes[0].start()
        while try await nodes[0].status().role != "leader" { try await Task.sleep(for: .milliseconds(5)) }
        for node in nodes.dropFirst() { try await node.start() }

        // Leaders seen, by (cluster, term).
        var leaders: [String: Set<UInt64>] = [:]
        let deadline = ContinuousClock.now + .milliseconds(1500)
        while ContinuousClock.now < deadline {
            for node in nodes {
                let status = try await node.status()
                if status.role == "leader" { leaders["\(status.clusterID)/\(status.term)", default: []].insert(node.id) }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        let statuses = try await nodes.asyncMap { try await $0.status() }
        let dropped = await nodes[0].raft.status.foreignMessagesDropped
        for node in nodes { await node.stop() }

        for (clusterAndTerm, ids) in leaders {
            #expect(ids.count == 1, "two leaders of one term in one cluster: \(clusterAndTerm) led by \(ids.sorted())")
        }
        #expect(!statuses[0].clusterID.isEmpty && statuses[0].clusterID != statuses[1].clusterID)
        #expect(statuses[1].clusterID == statuses[2].clusterID)
        #expect(dropped > 0, "node 1 should have dropped the other cluster's messages")
        #expect(leaders.keys.contains { $0.hasPrefix(statuses[1].clusterID + "/") }, "nodes 2 and 3 should elect a leader")
    }

    /// A restarted node trusts its stores: a config file whose member list
    /// was edited since the bootstrap does not change the membership.
    @Test("a restart takes the membership from the stores, not from an edited config")
    func restartTrustsTheStores() async throws {
        let directory = NSTemporaryDirectory() + "raftlab-bootstrap-\(UUID().uuidString)"
        defer { MemoryBackend.removeAll(under: directory) }
        let three = Self.config([1, 2, 3], directory: directory)
        let cluster = try await LocalCluster(config: three, seed: 5)
        let leader = try await cluster.leader()
        let cluster3 = try await leader.status().clusterID
        await cluster.stop()

        // Node 1 comes back alone with a config that says the cluster is {1}:
        // it must keep counting a quorum of the stored {1, 2, 3}, so it cannot lead.
        let hub = InProcessHub()
        let node = try ClusterNode(
            id: 1, config: Self.config([1], directory: directory), transport: hub.transport(for: 1), randomSeed: 9)
        try await node.start()
        try await Task.sleep(for: .milliseconds(600))
        let status = try await node.status()
        await node.stop()
        #expect(status.voters == [1, 2, 3])
        #expect(status.clusterID == cluster3)
        #expect(status.role != "leader")
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
