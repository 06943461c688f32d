import Foundation
import NoSQL
import RaftLabAPI
import RaftLabBackends
@testable import RaftLabNode
import RaftRuntime
import StorageCore
import Testing
import TestUtilities

/// No valid request can stop a cluster (issue: one DynamoDB PutItem with a
/// 2,048-byte partition key stopped every node of an lmdb cluster for good,
/// and every restart replayed the entry and stopped again).
@Suite("Apply safety: the largest valid items on every engine", .serialized)
struct ApplySafetyTests {
    static let bigPartition = String(repeating: "p", count: 2048)
    static let bigSort = String(repeating: "s", count: 1024)

    func onLeader<T: Sendable>(_ cluster: LocalCluster, _ body: (ClusterNode) async throws -> T) async throws -> T {
        for _ in 0..<50 {
            let leader = try await cluster.leader()
            do { return try await body(leader) } catch NodeError.notLeader, NodeError.noLeader {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        throw NodeError.noLeader
    }

    /// DynamoDB's largest keys, long sort keys that share a 1,000-byte
    /// prefix (they must come back in order), a restart of every node, and
    /// writes after it. On the first release's lmdb the first put stopped
    /// all three nodes ("key of 3097 bytes is longer than the lmdb backend
    /// allows (510 bytes)"), and the restart failed the same way.
    @Test("2,048/1,024-byte keys are stored, kept in order and survive a full restart",
          arguments: ["lmdb", "leveldb", "rocksdb", "sqlite", "flatfile", "memory"])
    func largestKeys(backend: String) async throws {
        let directory = ClusterNodeTests.temporaryDirectory("apply-safety-\(backend)")
        defer { try? FileSystem.removeTree(directory); MemoryBackendCleanup.forget(directory) }
        let config = ClusterNodeTests.config(backend, directory: directory)
        var cluster = try await LocalCluster(config: config, registry: .standard, seed: 31, logger: quietLogger())
        _ = try await onLeader(cluster) { try await $0.write(.createTable(TableSchema(name: "Big", partitionKey: "p", sortKey: "s"))) }
        let big: JSONValue = ["p": .string(Self.bigPartition), "s": .string(Self.bigSort), "v": 1]
        _ = try await onLeader(cluster) { try await $0.write(.putItem(table: "Big", item: big, expectedVersion: nil)) }
        var last: UInt64 = 0
        for tail in ["b", "a", "c"] {
            let item: JSONValue = ["p": .string(Self.bigPartition), "s": .string(String(repeating: "t", count: 1000) + tail), "v": 2]
            last = try await onLeader(cluster) { try await $0.write(.putItem(table: "Big", item: item, expectedVersion: nil)) }.index
        }
        try await checkOrder(cluster)
        await cluster.stop()
        if backend == "memory" { return }  // nothing outlives the process's stores

        cluster = try await LocalCluster(config: config, registry: .standard, seed: 32, logger: quietLogger())
        let leader = try await cluster.leader()
        #expect(try await eventually(timeout: .seconds(30)) { try await leader.status().appliedIndex >= last })
        try await checkOrder(cluster)
        _ = try await onLeader(cluster) {
            try await $0.write(.putItem(table: "Big", item: ["p": "k", "s": "after-restart"], expectedVersion: nil))
        }
        for node in cluster.nodes {
            let status = try await node.status()
            #expect(status.applyStalled == nil, "node \(node.id) is stalled: \(String(describing: status.applyStalled))")
        }
        await cluster.stop()
    }

    private func checkOrder(_ cluster: LocalCluster) async throws {
        let page = try await onLeader(cluster) { leader in
            try await leader.read(.strong) { machine, store in
                try machine.query(ItemQuery(table: "Big", partitionKey: .string(Self.bigPartition)), in: store)
            }
        }
        let sorts = page.items.compactMap { $0.current.content.attributes["s"]?.stringValue }
        #expect(sorts.map { String($0.prefix(1)) + String($0.suffix(1)) } == ["ss", "ta", "tb", "tc"])
    }

    @Test("keys past DynamoDB's limits are refused before the log")
    func oversizedKeysNeverReachTheLog() async throws {
        let directory = ClusterNodeTests.temporaryDirectory("apply-safety-refused")
        defer { try? FileSystem.removeTree(directory) }
        let cluster = try await LocalCluster(config: ClusterNodeTests.config("lmdb", directory: directory), registry: .standard, seed: 33, logger: quietLogger())
        _ = try await onLeader(cluster) { try await $0.write(.createTable(TableSchema(name: "Big", partitionKey: "p", sortKey: "s"))) }
        let leader = try await cluster.leader()
        for item: JSONValue in [
            ["p": .string(String(repeating: "p", count: 2049)), "s": "x"],
            ["p": "k", "s": .string(String(repeating: "s", count: 1025))],
        ] {
            // Refused by validation on the leader, before anything is proposed.
            do {
                _ = try await leader.write(.putItem(table: "Big", item: item, expectedVersion: nil))
                Issue.record("an item past DynamoDB's key limits was accepted")
            } catch let error as NoSQLError {
                #expect(error.code == .keyTooLarge)
            }
        }
        await cluster.stop()
    }
}
