import Foundation
import Hummingbird
import HummingbirdTesting
import RaftRuntime
import RaftLabBackends
import RaftLabNode
import RaftLabServer
import RaftLabTestSupport
import StorageCore
import Testing

/// The admin endpoints the benchmark reads from node processes.
@Suite("HTTP API: admin endpoints of a node")
struct AdminRoutesTests {
    @Test("a node serves its observed syncs and its replication timeline; a service that is no node has neither")
    func syncsAndTimeline() async throws {
        let directory = NSTemporaryDirectory() + "raftlab-admin-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = ClusterConfig.standard
        config.nodes = [config.nodes[0]]
        config.storage.log = "leveldb"
        config.storage.state = "leveldb"
        config.storage.dataDirectory = directory
        let node = try ClusterNode(id: 1, config: config, transport: InProcessHub().transport(for: 1), registry: .standard, logger: quietLogger)
        try await node.start()
        let router = makeRouter(service: node, metrics: nil)
        let app = Application(router: router, logger: quietLogger)
        try await app.test(.router) { client in
            // A single node leads as soon as its election timer fires (a
            // loaded machine can delay that by seconds).
            let deadline = ContinuousClock.now + .seconds(60)
            while (try await client.send(.post, "/tables", Demo.createMusic)).status.code != 201 {
                guard ContinuousClock.now < deadline else {
                    Issue.record("no leader within 60 s")
                    return
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            try await client.expect(.put, "/tables/Music/items", Demo.letItBe, status: 200)

            let syncs = try await client.expect(.get, "/admin/syncs", status: 200)
            #expect((syncs["observed"]?["fdatasync"]?.numberValue.flatMap { Int($0.description) } ?? 0) > 0, "\(syncs)")
            #expect((syncs["reported"]?.numberValue.flatMap { Int($0.description) } ?? 0) > 0)

            let timeline = try await client.expect(.get, "/admin/timeline?after=0", status: 200)
            #expect(timeline["applies"]?.arrayValue?.isEmpty == false, "\(timeline)")
            let next = try #require(timeline["next"]?.numberValue.flatMap { UInt64($0.description) })
            let later = try await client.expect(.get, "/admin/timeline?after=\(next)", status: 200)
            #expect(later["applies"]?.arrayValue?.isEmpty == true && later["missed"]?.numberValue?.description == "0")
            try await client.expectError(.get, "/admin/timeline?after=soon", status: 400, code: "invalid_argument")
        }
        await node.stop()

        try await withAPI(try InMemoryService()) { client in
            try await client.expectError(.get, "/admin/syncs", status: 404, code: "not_found")
        }
    }
}
