import Foundation
import MemoryBackend
import Raft
import RaftLabAPI
import RaftLabBackends
import RaftLabNode
import RaftRuntime
import StorageCore
import Testing
import TestUtilities

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

    /// Nodes 1 and 2 are started with a config listing nodes 1-3, nodes 3-5
    /// with one listing nodes 1-5, while a network split keeps {1, 2} from
    /// {3, 4, 5}. Without a stored membership and a cluster identity, 1 and 2
    /// elect a leader with a quorum of {1, 2, 3} and 3-5 elect one with a
    /// quorum of {1..5}: two leaders of one term, both accepting writes, and
    /// still two after the network heals (a leader ignores another leader of
    /// its own term). With them, the two groups bootstrapped different
    /// clusters and drop each other's messages once the network heals.
    @Test("nodes started with conflicting member lists never form two leaders of one term in one cluster")
    func conflictingMemberLists() async throws {
        let directory = NSTemporaryDirectory() + "raftlab-bootstrap-\(UUID().uuidString)"
        defer { MemoryBackend.removeAll(under: directory) }
        let hub = InProcessHub()
        hub.partition([[1, 2], [3, 4, 5]])
        let small = Self.config([1, 2, 3], directory: directory)
        let large = Self.config([1, 2, 3, 4, 5], directory: directory)
        var nodes: [ClusterNode] = []
        for id: UInt64 in 1...5 {
            let config = id <= 2 ? small : large
            nodes.append(try ClusterNode(id: id, config: config, transport: hub.transport(for: id), registry: .standard, randomSeed: id, logger: quietLogger()))
        }
        for node in nodes { try await node.start() }

        // Leaders seen, by (cluster, term): first while split, then healed.
        // Each phase lasts at least 800 ms and until what it waits for was
        // seen (at most 20 s: a loaded machine slows elections down).
        var leaders: [String: Set<UInt64>] = [:]
        func watch(until done: () async -> Bool) async throws {
            let start = ContinuousClock.now
            while ContinuousClock.now - start < .seconds(20) {
                for node in nodes {
                    let status = try await node.status()
                    if status.role == "leader" { leaders["\(status.clusterID)/\(status.term)", default: []].insert(node.id) }
                }
                if ContinuousClock.now - start >= .milliseconds(800), await done() { return }
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        func dropped() async -> UInt64 {
            var dropped: UInt64 = 0
            for node in nodes { dropped += await node.raft.status.foreignMessagesDropped }
            return dropped
        }
        // Split: until each side has had a leader.
        try await watch {
            let ids = leaders.values.reduce(into: Set<UInt64>()) { $0.formUnion($1) }
            return ids.contains { $0 <= 2 } && ids.contains { $0 >= 3 }
        }
        hub.heal()
        // Healed: until the clusters have met (and dropped each other's messages).
        try await watch { await dropped() > 0 }
        var statuses: [NodeStatus] = []
        for node in nodes { statuses.append(try await node.status()) }
        let droppedAfterHealing = await dropped()
        for node in nodes { await node.stop() }

        for (clusterAndTerm, ids) in leaders {
            #expect(ids.count == 1, "two leaders of one term in one cluster: \(clusterAndTerm) led by \(ids.sorted())")
        }
        #expect(statuses[0].clusterID == statuses[1].clusterID && statuses[2].clusterID == statuses[4].clusterID)
        #expect(statuses[0].clusterID != statuses[2].clusterID, "the two member lists must make two clusters")
        #expect(droppedAfterHealing > 0, "after healing, the two clusters' messages must be dropped")
    }

    /// A restarted node trusts its stores: a config file whose member list
    /// was edited since the bootstrap does not change the membership.
    @Test("a restart takes the membership from the stores, not from an edited config")
    func restartTrustsTheStores() async throws {
        let directory = NSTemporaryDirectory() + "raftlab-bootstrap-\(UUID().uuidString)"
        defer { MemoryBackend.removeAll(under: directory) }
        let three = Self.config([1, 2, 3], directory: directory)
        let cluster = try await LocalCluster(config: three, registry: .standard, seed: 5, logger: quietLogger())
        let leader = try await cluster.leader()
        let cluster3 = try await leader.status().clusterID
        await cluster.stop()

        // Node 1 comes back alone with a config that says the cluster is {1}:
        // it must keep counting a quorum of the stored {1, 2, 3}, so it cannot lead.
        let hub = InProcessHub()
        let node = try ClusterNode(
            id: 1, config: Self.config([1], directory: directory), transport: hub.transport(for: 1), registry: .standard, randomSeed: 9, logger: quietLogger())
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
