import EncryptedStorage
import Foundation
import Logging
import MemoryBackend
import NoSQL
import Raft
import RaftLabAPI
import RaftLabBackends
import RaftLabNode
import RaftLabTLS
import RaftRuntime
import RaftTCPTransport
import StorageCore
import Testing
import TestUtilities

#if canImport(Glibc)
import Glibc
#endif

/// Whole clusters with the protections on.
@Suite("Secure clusters", .serialized)
struct SecureClusterTests {
    static let secret = "zq-distinctive-7731"

    static func config(_ backend: String, directory: String) -> ClusterConfig {
        var config = ClusterConfig.standard
        config.storage.log = backend
        config.storage.state = backend
        config.storage.dataDirectory = directory + "/data"
        config.engine.tickMilliseconds = 10
        config.engine.electionTicks = 20
        return config
    }

    static func writeKey(_ path: String, _ fill: UInt8? = nil) throws {
        try FileSystem.writeFile(path, fill.map { Array(repeating: $0, count: 32) } ?? EncryptionKey.generateBytes(), sync: false)
    }

    /// Runs `body` on the leader, again if leadership moves.
    func onLeader<T: Sendable>(_ cluster: LocalCluster, _ body: (ClusterNode) async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            do {
                return try await body(try await cluster.leader(within: .seconds(30)))
            } catch let error as NodeError where ContinuousClock.now < deadline {
                switch error {
                case .notLeader, .noLeader: try await Task.sleep(for: .milliseconds(20))
                default: throw error
                }
            }
        }
    }

    @Test("with encryption on, no file of any node's data directory holds an item's value while the cluster serves it (log, state, staged snapshots)",
          arguments: ["flatfile", "lmdb", "leveldb", "rocksdb", "sqlite"])
    func nothingReadableInDataDirectories(backend: String) async throws {
        let directory = NSTemporaryDirectory() + "raftlab-security-at-rest-\(backend)-\(UUID().uuidString)"
        defer { try? FileSystem.removeTree(directory) }
        for encrypted in [true, false] where encrypted || backend == "leveldb" {
            // The unencrypted run (one backend) shows the search finds the value when it is there.
            let runDirectory = directory + (encrypted ? "/on" : "/off")
            var config = Self.config(backend, directory: runDirectory)
            if encrypted {
                try FileSystem.createDirectory(runDirectory, sync: false)
                try Self.writeKey(runDirectory + "/storage.key")
                config.storage.encryption = ClusterConfig.Encryption(keyFile: runDirectory + "/storage.key")
            }
            // Snapshots every 50 entries: checkpoints write the state stores, compaction drops log entries,
            // and a node added later catches up through a snapshot staged on its disk.
            config.engine.snapshotEntries = 50
            config.engine.snapshotKeepEntries = 5
            config.nodes.append(ClusterConfig.Node(
                id: 4, raftAddress: HostPort(host: "127.0.0.1", port: 9103), httpAddress: HostPort(host: "127.0.0.1", port: 8103)))
            let cluster = try await LocalCluster(config: config, voters: 3, registry: .standard, seed: 5, logger: quietLogger())
            // A snapshot from the leader is staged on disk as the node's state store seals its data:
            // the node's wrappers must pass the sealer through (a lost sealer staged snapshots in the clear).
            #expect((cluster.node(1)?.stateStore.stagingSealer != nil) == encrypted)
            _ = try await onLeader(cluster) { try await $0.write(.createTable(TableSchema(name: "Enc", partitionKey: "pk", sortKey: "sk"))) }
            _ = try await onLeader(cluster) {
                try await $0.write(.putItem(
                    table: "Enc", item: try JSONValue.parse(#"{"pk":"a","sk":"b","secret":"\#(Self.secret)"}"#), expectedVersion: nil))
            }
            var last: UInt64 = 0
            for i in 0..<120 {
                last = try await onLeader(cluster) {
                    try await $0.write(.putItem(table: "Enc", item: ["pk": .string("p\(i)"), "sk": .string("s"), "v": .string("\(Self.secret)-\(i)")], expectedVersion: nil))
                }.index
            }
            try await cluster.start(4, joining: true)
            try await onLeader(cluster) { try await $0.raft.addLearner(4) }
            let node4 = try #require(cluster.node(4))
            #expect(try await eventually(timeout: .seconds(30)) { try await node4.status().appliedIndex >= last })
            let served = try await node4.read(.local) { machine, store in try machine.getItem(table: "Enc", key: ItemKey("a", "b"), in: store) }
            #expect(served.item["secret"] == .string(Self.secret))

            let found = filesContaining(bytes(Self.secret), under: config.storage.dataDirectory)
            if encrypted {
                #expect(found.isEmpty, "\(backend): while serving, \(found) hold the value in the clear")
            } else {
                #expect(!found.isEmpty, "without encryption the search must find the value, or it proves nothing")
            }
            await cluster.stop()
            if encrypted {
                let after = filesContaining(bytes(Self.secret), under: config.storage.dataDirectory)
                #expect(after.isEmpty, "\(backend): after stopping, \(after) hold the value in the clear")
                #expect(fileCount(under: config.storage.dataDirectory) > 8)
            }
        }
    }

    @Test("a node given the wrong key refuses to start, with a message naming both keys; the right key serves the data")
    func wrongKeyRefused() async throws {
        let directory = NSTemporaryDirectory() + "raftlab-security-wrong-key-\(UUID().uuidString)"
        defer { try? FileSystem.removeTree(directory) }
        try FileSystem.createDirectory(directory, sync: false)
        try Self.writeKey(directory + "/right.key", 1)
        try Self.writeKey(directory + "/wrong.key", 2)
        var config = Self.config("lmdb", directory: directory)
        config.storage.encryption = ClusterConfig.Encryption(keyFile: directory + "/right.key")
        let cluster = try await LocalCluster(config: config, registry: .standard, seed: 3, logger: quietLogger())
        _ = try await onLeader(cluster) { try await $0.write(.createTable(TableSchema(name: "Tab", partitionKey: "k"))) }
        await cluster.stop()

        config.storage.encryption = ClusterConfig.Encryption(keyFile: directory + "/wrong.key")
        do {
            _ = try await LocalCluster(config: config, registry: .standard, seed: 3, logger: quietLogger())
            Issue.record("a cluster started with the wrong key")
        } catch let error as StorageError {
            #expect(error.description.contains("wrong encryption key"), "\(error)")
            #expect(error.description.contains(try EncryptionKey.load(path: directory + "/right.key").id))
        }
        config.storage.encryption = nil
        do {
            _ = try await LocalCluster(config: config, registry: .standard, seed: 3, logger: quietLogger())
            Issue.record("an encrypted cluster started without its key")
        } catch let error as StorageError {
            #expect(error.description.contains("encrypted"), "\(error)")
        }
        try FileSystem.writeFile(directory + "/short.key", [1, 2, 3], sync: false)
        config.storage.encryption = ClusterConfig.Encryption(keyFile: directory + "/short.key")
        do {
            _ = try await LocalCluster(config: config, registry: .standard, seed: 3, logger: quietLogger())
            Issue.record("a 3-byte key was accepted")
        } catch let error as ConfigError {
            #expect(error.description.contains("exactly 32 bytes"), "\(error)")
        }
        config.storage.encryption = ClusterConfig.Encryption(keyFile: directory + "/right.key")
        let again = try await LocalCluster(config: config, registry: .standard, seed: 3, logger: quietLogger())
        let tables = try await onLeader(again) { try await $0.read(.strong) { machine, store in try machine.listTables(in: store) } }
        #expect(tables.map(\.name) == ["Tab"])
        await again.stop()
    }

    @Test("a node with a certificate from another CA cannot join or disturb a TLS cluster")
    func foreignNodeCannotJoinOrDisturb() async throws {
        let cas = TestCAs.shared
        let directory = NSTemporaryDirectory() + "raftlab-security-tls-cluster-\(UUID().uuidString)"
        defer { try? FileSystem.removeTree(directory) }
        var config = Self.config("memory", directory: directory)
        let ports = try (0..<8).map { _ in try freePort() }
        config.nodes = (1...4).map { id in
            ClusterConfig.Node(
                id: UInt64(id), raftAddress: HostPort(host: "127.0.0.1", port: ports[id - 1]),
                httpAddress: HostPort(host: "127.0.0.1", port: ports[id + 3]))
        }
        config.tls = ClusterConfig.TLS(
            caFile: cas.cluster + "/ca.pem", certificateFile: cas.cluster + "/node-{id}.pem", keyFile: cas.cluster + "/node-{id}-key.pem")
        let logs = LogCapture()
        var nodes: [ClusterNode] = []
        var transports: [UInt64: TCPTransport] = [:]
        for id: UInt64 in 1...3 {
            let transport = try ClusterNode.tcpTransport(for: id, config: config, logger: logs.logger(label: "node\(id)"))
            transports[id] = transport
            let node = try ClusterNode(id: id, config: config, transport: transport, registry: .standard, randomSeed: id, initialVoters: [1, 2, 3], logger: quietLogger())
            try await node.start()
            nodes.append(node)
        }
        func leader() async throws -> ClusterNode {
            for _ in 0..<3000 {
                for node in nodes where await node.raft.status.role == .leader { return node }
                try await Task.sleep(for: .milliseconds(10))
            }
            throw NodeError.noLeader
        }
        let first = try await leader()
        _ = try await first.write(.createTable(TableSchema(name: "Tab", partitionKey: "k")))
        let before = await first.raft.status

        // A rogue with node 2's name from a foreign CA claims leadership of a far later term.
        var rogueConfiguration = TCPTransportConfiguration()
        rogueConfiguration.tls = TransportTLS(try TLSContexts(files: cas.files(cas.foreign, node: 2), nodeID: 2))
        let rogue = TCPTransport(
            nodeID: 2, listenAddress: PeerAddress(host: "127.0.0.1", port: 0),
            peers: Dictionary(uniqueKeysWithValues: config.nodes.filter { $0.id != 2 }.map { ($0.id, PeerAddress(host: $0.raftAddress.host, port: $0.raftAddress.port)) }),
            configuration: rogueConfiguration, logger: quietLogger(label: "rogue"))
        try await rogue.start(receive: { _ in })
        for target: UInt64 in [1, 3] {
            var append = Message(kind: .append, from: 2, to: target, term: before.term + 100, logIndex: 0, commit: 0)
            append.clusterID = config.bootstrapClusterID
            var vote = Message(kind: .vote, from: 2, to: target, term: before.term + 200, logIndex: 1_000_000, logTerm: before.term + 199)
            vote.clusterID = config.bootstrapClusterID
            for _ in 0..<5 { rogue.send([append, vote]) }
        }
        #expect(await eventually(timeout: .seconds(10)) { (transports[1]!.stats.peersRefused + transports[3]!.stats.peersRefused) >= 2 })
        try await Task.sleep(for: .milliseconds(500))
        let after = await first.raft.status
        #expect(after.role == .leader && after.term == before.term, "the rogue moved the leader to term \(after.term)")
        for node in nodes { #expect(await node.raft.status.term < before.term + 100) }
        #expect(logs.lines(atLeast: .warning).contains { $0.contains("refused a Raft connection") })
        await rogue.shutdown()

        // A node 4 whose certificate (naming node 4) comes from the foreign CA is added as a learner and
        // never catches up: the leader refuses its certificate, and it refuses the leader's.
        let outsider = try ClusterNode(
            id: 4, config: config,
            transport: try ClusterNode.tcpTransport(
                for: 4, config: config, tls: try TLSContexts(files: cas.files(cas.foreign, node: 4), nodeID: 4)),
            registry: .standard, randomSeed: 4, initialVoters: [], logger: quietLogger())
        try await outsider.start()
        _ = try await leader().raft.addLearner(4)
        _ = try await leader().write(.createTable(TableSchema(name: "Later", partitionKey: "k")))
        try await Task.sleep(for: .seconds(2))
        #expect(try await outsider.status().appliedIndex == 0, "a node outside the CA caught up")
        let stillLeader = try await leader()
        #expect(await stillLeader.raft.status.term == before.term)
        await outsider.stop()
        for node in nodes { await node.stop() }
    }
}

/// A loopback port that was free a moment ago.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard ok else { throw CocoaError(.fileWriteUnknown) }
    return Int(UInt16(bigEndian: address.sin_port))
}
