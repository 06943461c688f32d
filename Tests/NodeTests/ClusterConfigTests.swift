import Foundation
import RaftLabAPI
import RaftLabBackends
import RaftLabNode
import StorageCore
import Testing

@Suite("Cluster config")
struct ClusterConfigTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    @Test("the shipped examples load and validate", arguments: ["examples/cluster.toml", "examples/cluster-3proc.toml"])
    func examplesLoad(file: String) throws {
        let config = try ClusterConfig.load(path: Self.packageRoot + "/" + file)
        try config.validate(registry: .standard)
        #expect(config.storage.log == "lmdb")
        #expect(config.storage.state == "lmdb")
        #expect(config.storage.sync)
        #expect(config.storage.settings["lmdb"] == ["map_size": "1073741824"])
        #expect(config.nodes.map(\.id) == [1, 2, 3])
        #expect(config.nodes[0].httpAddress == HostPort(host: "127.0.0.1", port: 8100))
        #expect(config.storage.storageConfig(forNode: 2).logOptions.directory.hasSuffix("/node-2/log"))
    }

    @Test("the default cluster is the original's: three nodes on 8100-8102, memory")
    func standardCluster() throws {
        let config = ClusterConfig.standard
        try config.validate(registry: .standard)
        #expect(config.nodes.map(\.httpAddress.port) == [8100, 8101, 8102])
        #expect(config.storage.log == "memory" && config.storage.state == "memory")
    }

    @Test("log and state backends are swapped by editing two keys")
    func mixedBackends() throws {
        let config = try ClusterConfig.parse("""
            [storage]
            log = "leveldb"
            state = "flatfile"
            sync = false
            data_dir = "/tmp/x"
            [[nodes]]
            id = 7
            raft_addr = "127.0.0.1:9200"
            http_addr = "127.0.0.1:8200"
            [bench]
            ops = 5000
            concurrency = [1, 64]
            """)
        try config.validate(registry: .standard)
        #expect(config.storage.log == "leveldb")
        #expect(config.storage.state == "flatfile")
        #expect(!config.storage.sync)
        #expect(config.bench["ops"] == .int(5000))
        #expect(config.bench["concurrency"] == .list([.int(1), .int(64)]))
    }

    @Test("mistakes are errors that name the key, the line or the backend")
    func badConfigs() throws {
        func message(_ text: String) -> String {
            do {
                let config = try ClusterConfig.parse(text, path: "bad.toml")
                try config.validate(registry: .standard)
                return "accepted"
            } catch {
                return String(describing: error)
            }
        }
        let node = "\n[[nodes]]\nid = 1\nraft_addr = \"127.0.0.1:1\"\nhttp_addr = \"127.0.0.1:2\"\n"
        #expect(message("[storage]\nlgo = \"lmdb\"" + node).contains("storage.lgo"))
        #expect(message("[storage]\nlog = \"berkeleydb\"" + node).contains("known backends: flatfile, leveldb, lmdb, memory, rocksdb, sqlite, wal"))
        #expect(message("[storage]\nlog = \"wal\"\nstate = \"wal\"" + node) == """
            invalid config: [storage] state: backend 'wal' cannot be a state store; \
            backends that can: flatfile, leveldb, lmdb, memory, rocksdb, sqlite
            """)
        #expect(message("[storage]\nlog = \"wal\"\nstate = \"rocksdb\"\n[storage.wal]\nsegment_size = 1048576" + node) == "accepted")
        #expect(message("[storage]\nsync = \"yes\"" + node).contains("storage.sync must be true or false"))
        #expect(message("[storage\nlog = 1").hasPrefix("bad.toml:1:"))
        #expect(message("[[nodes]]\nid = 1\nraft_addr = \"nowhere\"\nhttp_addr = \"127.0.0.1:2\"").contains("host:port"))
        #expect(message("[storage]\nlog = \"memory\"").contains("no [[nodes]]"))
        #expect(message(node + node).contains("unique"))
        #expect(message("[engine]\nelection_ticks = 1\nheartbeat_ticks = 1" + node).contains("election_ticks"))
        #expect(throws: ConfigError.self) { try ClusterConfig.load(path: "/nonexistent/raftlab.toml") }
    }
}

@Suite("Cluster config: [auth]")
struct AuthConfigTests {
    static let node = "\n[[nodes]]\nid = 1\nraft_addr = \"127.0.0.1:1\"\nhttp_addr = \"127.0.0.1:2\"\n"

    @Test("[[auth.access_keys]] are read, rendered back, and checked")
    func accessKeys() throws {
        let config = try ClusterConfig.parse("""
            [[auth.access_keys]]
            access_key_id = "AKID1"
            secret_access_key = "s3cr3t/+="
            [[auth.access_keys]]
            access_key_id = "AKID2"
            secret_access_key = "other"
            """ + Self.node)
        try config.validate(registry: .standard)
        #expect(config.auth.accessKeys == [
            .init(accessKeyID: "AKID1", secretAccessKey: "s3cr3t/+="), .init(accessKeyID: "AKID2", secretAccessKey: "other"),
        ])
        #expect(try ClusterConfig.parse(config.renderTOML()) == config)
        #expect(try ClusterConfig.parse(Self.node).auth.accessKeys.isEmpty)
    }

    @Test("unknown keys and bad keys in [auth] are errors that name them")
    func mistakes() {
        func message(_ text: String) -> String {
            do {
                try ClusterConfig.parse(text + Self.node, path: "bad.toml").validate(registry: .standard)
                return "accepted"
            } catch {
                return String(describing: error)
            }
        }
        #expect(message("[auth]\ntokens_typo = 1").contains("auth.tokens_typo"))
        #expect(message("[[auth.access_keys]]\naccess_key_id = \"a\"\nsecret_access_key = \"b\"\nregion = \"x\"").contains("auth.access_keys[0].region"))
        #expect(message("[[auth.access_keys]]\naccess_key_id = \"a\"").contains("needs access_key_id and secret_access_key"))
        #expect(message("[[auth.access_keys]]\naccess_key_id = \"\"\nsecret_access_key = \"b\"").contains("non-empty"))
        #expect(message("[[auth.access_keys]]\naccess_key_id = \"a\"\nsecret_access_key = \"b\"\n[[auth.access_keys]]\naccess_key_id = \"a\"\nsecret_access_key = \"c\"").contains("must be different"))
    }
}
