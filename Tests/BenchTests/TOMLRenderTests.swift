import RaftLabAPI
import RaftLabBackends
import RaftLabNode
import StorageCore
import Testing

/// `raftlab bench --transport tcp` hands each node process the cluster as a
/// TOML file: what it renders must parse back to the same config.
@Suite("Bench: ClusterConfig TOML rendering")
struct TOMLRenderTests {
    @Test("the standard config renders and parses back equal")
    func standardRoundTrip() throws {
        let text = ClusterConfig.standard.renderTOML()
        #expect(try ClusterConfig.parse(text) == ClusterConfig.standard)
    }

    @Test("every table and key, odd strings included, survives render then parse")
    func fullRoundTrip() throws {
        var config = ClusterConfig(nodes: (1...5).map { id in
            ClusterConfig.Node(
                id: UInt64(id * 10),
                raftAddress: HostPort(host: "127.0.0.1", port: 40_000 + id),
                httpAddress: HostPort(host: id == 3 ? "::1" : "localhost", port: 41_000 + id))
        })
        config.storage.log = "lmdb"
        config.storage.state = "leveldb"
        config.storage.sync = false
        config.storage.dataDirectory = "/tmp/raft lab/\"quoted\"\\back\tslash/ünïcode/\u{01}"
        config.storage.settings = [
            "lmdb": ["map_size": "1073741824"],
            "leveldb": ["block_cache": "8MB", "flag": "true", "padded": "007", "negative": "-12"],
            "odd name": ["odd key.with dot": "line\nbreak"],
        ]
        config.engine.tickMilliseconds = 7
        config.engine.electionTicks = 23
        config.engine.heartbeatTicks = 3
        config.engine.snapshotEntries = 12_345
        config.engine.snapshotKeepEntries = 0
        config.engine.maxBatch = 64
        config.engine.maxInflight = 9
        config.limits.maxItemBytes = 1_000
        config.bench = [
            "ops": .int(5_000),
            "duration": .double(0.25),
            "tiny": .double(1e-7),
            "huge": .double(3e300),
            "round": .double(2),
            "sync": .bool(false),
            "label": .string("a \"quoted\" label"),
            "concurrency": .list([.int(1), .int(64)]),
            "mixed": .list([.string("x"), .bool(true), .double(-1.5)]),
        ]
        let text = config.renderTOML()
        let parsed = try ClusterConfig.parse(text)
        #expect(parsed == config, "rendered:\n\(text)")
        // And the rendered file is one a node accepts.
        var valid = parsed
        valid.storage.settings = [:]
        try valid.validate(registry: .standard)
    }

    @Test("a config with no [bench] table renders none")
    func noBenchTable() throws {
        let text = ClusterConfig.standard.renderTOML()
        #expect(!text.contains("[bench]"))
        #expect(text.contains("[[nodes]]"))
    }
}
