import Foundation
import Logging
import RaftLabAPI
import RaftLabBackends
import RaftLabNode
import RaftLabServer
import StorageCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

public struct FuzzClusterError: Error, CustomStringConvertible {
    public var description: String
}

/// N nodes in this process (an in-process hub between them), each behind the
/// real HTTP API on 127.0.0.1; any node can be stopped and restarted on its data.
public final class FuzzCluster: Sendable {
    public let local: LocalCluster
    public let directory: String
    let addresses: [UInt64: HostPort]
    let servers = Mutex<[UInt64: Task<Void, Never>]>([:])
    let options: HTTPAPIOptions
    let httpLogger: Logger

    /// Ports the system hands out, reserved all at once so they differ, then
    /// released for the servers (HTTP) and the config (Raft, unused in process).
    static func freePorts(_ count: Int) throws -> [Int] {
        var descriptors: [Int32] = []
        defer { for fd in descriptors { close(fd) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw FuzzClusterError(description: "socket() failed") }
            descriptors.append(fd)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = 0
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard bound == 0, named == 0 else { throw FuzzClusterError(description: "cannot reserve a port on 127.0.0.1") }
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }

    /// The config of an N-node cluster on `backend` (`wal`: wal log, leveldb state), sync on.
    public static func config(nodes: Int, backend: String, directory: String, ports: [Int]) -> ClusterConfig {
        var config = ClusterConfig(nodes: (1...nodes).map { id in
            ClusterConfig.Node(
                id: UInt64(id), raftAddress: HostPort(host: "127.0.0.1", port: ports[nodes + id - 1]),
                httpAddress: HostPort(host: "127.0.0.1", port: ports[id - 1]))
        })
        config.storage.log = backend
        config.storage.state = backend == "wal" ? "leveldb" : backend
        config.storage.sync = true
        config.storage.dataDirectory = directory
        config.clusterName = "raftlab-fuzz"
        return config
    }

    public init(nodes: Int, backend: String, directory: String, seed: UInt64, nodeLogger: Logger) async throws {
        let ports = try Self.freePorts(2 * nodes)
        let config = Self.config(nodes: nodes, backend: backend, directory: directory, ports: ports)
        try config.validate(registry: .standard)
        self.directory = directory
        addresses = Dictionary(uniqueKeysWithValues: config.nodes.map { ($0.id, $0.httpAddress) })
        var options = HTTPAPIOptions(forwardWritesToLeader: true, maxBodyBytes: config.limits.maxItemBytes + 64 * 1024)
        options.forwardTimeout = .seconds(15)
        self.options = options
        var logger = Logger(label: "raftlab.fuzz.http")
        logger.logLevel = .critical
        httpLogger = logger
        local = try await LocalCluster(config: config, registry: .standard, seed: seed, logger: nodeLogger)
        do {
            for node in local.nodes { try await startServer(node) }
        } catch {
            await shutdown()
            throw error
        }
    }

    public var nodeIDs: [UInt64] { addresses.keys.sorted() }
    public var runningIDs: [UInt64] { local.nodes.map(\.id) }
    public func address(of id: UInt64) -> HostPort { addresses[id]! }

    func startServer(_ node: ClusterNode) async throws {
        let (stream, continuation) = AsyncStream.makeStream(of: HostPort.self)
        let app = makeApplication(
            service: node, address: address(of: node.id), registry: nil, options: options, logger: httpLogger,
            onListening: { continuation.yield($0) })
        let task = Task {
            defer { continuation.finish() }
            try? await app.run()
        }
        var iterator = stream.makeAsyncIterator()
        guard await iterator.next() != nil else {
            throw FuzzClusterError(description: "node \(node.id)'s HTTP server did not start on \(address(of: node.id))")
        }
        servers.withLock { $0[node.id] = task }
    }

    /// Stops node `id`'s HTTP server, then the node (its stores close; its data stays).
    public func stopNode(_ id: UInt64) async {
        if let task = servers.withLock({ $0.removeValue(forKey: id) }) {
            task.cancel()
            await task.value
        }
        await local.stop(id)
    }

    /// Starts node `id` again from its data, and its HTTP server on the same port.
    public func startNode(_ id: UInt64) async throws {
        try await local.start(id)
        guard let node = local.node(id) else { throw FuzzClusterError(description: "node \(id) did not start") }
        // The port was just released: a few tries while the old socket goes away.
        var attempt = 0
        while true {
            do {
                try await startServer(node)
                return
            } catch {
                attempt += 1
                if attempt >= 20 { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Running nodes whose engine has stopped by itself ("raft node failed; stopping").
    public func haltedNodes() async -> [UInt64] {
        var halted: [UInt64] = []
        for node in local.nodes {
            let running = await node.raft.status.isRunning
            if !running { halted.append(node.id) }
        }
        return halted
    }

    /// Waits (up to `timeout`) until one leader leads every running node and
    /// each has applied the leader's commit index, then returns every running
    /// node's digest at one common applied index. Nil digests: no such moment.
    public func convergedDigests(timeout: Duration) async -> (digests: [ReplicaDigest], problem: String?) {
        let deadline = ContinuousClock.now + timeout
        var last = "no status yet"
        while ContinuousClock.now < deadline {
            let nodes = local.nodes
            var statuses: [(ClusterNode, RaftLabStatus)] = []
            for node in nodes {
                let status = await node.raft.status
                statuses.append((node, RaftLabStatus(role: "\(status.role)", term: status.term, leader: status.leader, commit: status.commitIndex, applied: status.appliedIndex)))
            }
            let leaders = statuses.filter { $0.1.role == "leader" }.sorted { $0.1.term > $1.1.term }
            if let leader = leaders.first,
                statuses.allSatisfy({ $0.1.applied == leader.1.commit && ($0.1.leader == leader.0.id || $0.0.id == leader.0.id) })
            {
                var digests: [ReplicaDigest] = []
                var failed: String?
                for node in nodes {
                    do {
                        let digest = try await node.read(.local) { _, store in try StateHash.digest(of: store) }
                        digests.append(ReplicaDigest(node: node.id, appliedIndex: digest.position.index, entries: digest.entries, digest: digest.hex))
                    } catch {
                        failed = "node \(node.id): cannot read its state: \(error)"
                    }
                }
                if failed == nil, Set(digests.map(\.appliedIndex)).count == 1 { return (digests, nil) }
                last = failed ?? "applied indexes moved while hashing: \(digests.map { "node \($0.node) at \($0.appliedIndex)" })"
            } else {
                last = statuses.map { "node \($0.0.id): \($0.1.role) term \($0.1.term) leader \($0.1.leader.map(String.init) ?? "-") commit \($0.1.commit) applied \($0.1.applied)" }.joined(separator: "; ")
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return ([], "no common applied index within \(timeout): \(last)")
    }

    /// Stops every server and node; the caller removes the directory.
    public func shutdown() async {
        for id in servers.withLock({ Array($0.keys) }) {
            if let task = servers.withLock({ $0.removeValue(forKey: id) }) {
                task.cancel()
                await task.value
            }
        }
        await local.stop()
    }
}

struct RaftLabStatus {
    var role: String
    var term: UInt64
    var leader: UInt64?
    var commit: UInt64
    var applied: UInt64
}
