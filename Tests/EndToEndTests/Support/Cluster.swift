import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// How the three nodes run.
enum Mode: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// `raftlab server --config FILE`: every node in one process.
    case oneProcess
    /// `raftlab server --node-id N --config FILE` three times: one node per process, over TCP.
    case threeProcesses

    var testDescription: String { self == .oneProcess ? "1 process" : "3 processes" }
}

/// One node's addresses.
struct NodeAddress: Sendable {
    var id: UInt64
    var http: String
    var raft: String
}

/// What `raftlab status --json` says about a node (the keys the tests rely on).
struct NodeStatus: Decodable, Sendable {
    var nodeID: UInt64
    var role: String
    var term: UInt64
    var leaderID: UInt64?
    var commitIndex: UInt64
    var appliedIndex: UInt64

    enum CodingKeys: String, CodingKey {
        case nodeID = "node_id", role, term, leaderID = "leader_id", commitIndex = "commit_index", appliedIndex = "applied_index"
    }
}

/// A three-node cluster of `raftlab server` processes on free local ports,
/// configured from a copy of one of the example configs with the storage
/// keys, data directory and addresses rewritten.
final class Cluster: Sendable {
    let workspace: Workspace
    let backend: String
    let mode: Mode
    let nodes: [NodeAddress]
    let configPath: String
    let dataDirectory: String
    /// Running server processes by node id; in one-process mode the one process is under every id.
    private let running = Mutex<[UInt64: ChildProcess]>([:])

    init(workspace: Workspace, backend: String, mode: Mode, engine: [String: Int] = [:]) throws {
        self.workspace = workspace
        self.backend = backend
        self.mode = mode
        let ports = try Ports.allocate(6)
        nodes = (0..<3).map { i in
            NodeAddress(id: UInt64(i + 1), http: "127.0.0.1:\(ports[2 * i])", raft: "127.0.0.1:\(ports[2 * i + 1])")
        }
        dataDirectory = workspace.root + "/data"
        configPath = workspace.root + "/cluster.toml"
        let example = try RaftLabPaths.example(mode == .oneProcess ? "cluster.toml" : "cluster-3proc.toml")
        let config = try Self.rewrite(example, backend: backend, dataDirectory: dataDirectory, nodes: nodes, engine: engine)
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// The example with `[storage]` log/state/data_dir, `[[nodes]]` addresses
    /// and any `engine` keys replaced (engine keys it lacks are added).
    static func rewrite(_ example: String, backend: String, dataDirectory: String, nodes: [NodeAddress], engine: [String: Int])
        throws -> String
    {
        var section = ""
        var nodeIndex = -1
        var replaced: [String: Int] = [:]
        var engineSeen = Set<String>()
        var lines: [String] = []
        func finishEngine() {
            guard section == "engine" else { return }
            for (key, value) in engine.sorted(by: { $0.key < $1.key }) where !engineSeen.contains(key) {
                lines.append("\(key) = \(value)")
            }
        }
        for line in example.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("[") {
                finishEngine()
                section = trimmed.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
                if trimmed.hasPrefix("[[nodes]]") { nodeIndex += 1 }
                lines.append(line)
                continue
            }
            guard let equals = trimmed.firstIndex(of: "="), !trimmed.hasPrefix("#") else {
                lines.append(line)
                continue
            }
            let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            var value: String?
            switch (section, key) {
            case ("storage", "log"), ("storage", "state"): value = "\"\(backend)\""
            case ("storage", "data_dir"): value = "\"\(dataDirectory)\""
            case ("engine", _):
                engineSeen.insert(key)
                value = engine[key].map(String.init)
            case ("nodes", "raft_addr") where nodes.indices.contains(nodeIndex): value = "\"\(nodes[nodeIndex].raft)\""
            case ("nodes", "http_addr") where nodes.indices.contains(nodeIndex): value = "\"\(nodes[nodeIndex].http)\""
            default: break
            }
            if let value {
                replaced["\(section).\(key)", default: 0] += 1
                lines.append("\(key) = \(value)")
            } else {
                lines.append(line)
            }
        }
        finishEngine()
        for key in ["storage.log", "storage.state", "storage.data_dir"] where replaced[key] != 1 {
            throw TestFailure("the example config has \(replaced[key] ?? 0) '\(key)' keys, expected 1")
        }
        guard nodeIndex + 1 == nodes.count, replaced["nodes.raft_addr"] == nodes.count, replaced["nodes.http_addr"] == nodes.count else {
            throw TestFailure("the example config does not list \(nodes.count) [[nodes]] with raft_addr and http_addr")
        }
        return lines.joined(separator: "\n")
    }

    func address(_ id: UInt64) -> String { nodes[Int(id - 1)].http }

    // MARK: Processes

    /// Starts every node: one process, or one per node.
    func start() throws {
        switch mode {
        case .oneProcess:
            let child = try workspace.spawn("server", ["server", "--config", configPath])
            running.withLock { running in for node in nodes { running[node.id] = child } }
        case .threeProcesses:
            for node in nodes { try startNode(node.id) }
        }
    }

    /// Starts (or restarts) one node's process (three-process mode).
    func startNode(_ id: UInt64) throws {
        precondition(mode == .threeProcesses)
        let child = try workspace.spawn("node\(id)", ["server", "--node-id", String(id), "--config", configPath])
        running.withLock { $0[id] = child }
    }

    func process(_ id: UInt64) -> ChildProcess? { running.withLock { $0[id] } }

    /// Ids of the nodes whose process is running.
    var upNodes: [UInt64] {
        running.withLock { running in nodes.map(\.id).filter { running[$0]?.isRunning == true } }
    }

    /// SIGKILL to one node's process; returns once it is gone.
    func kill(_ id: UInt64) async throws {
        precondition(mode == .threeProcesses)
        guard let child = process(id) else { throw TestFailure("node \(id) is not running") }
        child.signal(SIGKILL)
        guard await child.waitForExit(timeout: .seconds(10)) != nil else {
            throw TestFailure("node \(id) (pid \(child.pid)) did not die from SIGKILL within 10 s")
        }
        running.withLock { _ = $0.removeValue(forKey: id) }
    }

    /// Stops every process with SIGTERM and records an issue for any that did
    /// not exit with status 0 within 10 s (it is then SIGKILLed).
    func stop(sourceLocation: SourceLocation = #_sourceLocation) async {
        let children = running.withLock { running in
            defer { running.removeAll() }
            var unique: [ChildProcess] = []
            for node in nodes { if let child = running[node.id], !unique.contains(where: { $0 === child }) { unique.append(child) } }
            return unique
        }
        for child in children { child.signal(SIGTERM) }
        for child in children {
            let status = await child.stop(sendTerm: false)
            let outcome = status.map { "exit \($0)" } ?? "still running after 10 s, SIGKILLed"
            #expect(
                status == 0,
                "\(child.name) (\(backend), \(mode.testDescription)) did not exit cleanly after SIGTERM: \(outcome)\n\(child.stderrTail())",
                sourceLocation: sourceLocation)
        }
    }

    /// The server logs of every node process, for failure messages.
    func logs() -> String {
        let children = running.withLock { Array($0.values) }
        return children.map { "--- \($0.name) ---\n\($0.stderrTail())" }.joined(separator: "\n")
    }

    // MARK: Status

    /// `raftlab status --json` against one node, nil when it does not answer.
    func status(_ id: UInt64, timeout: Double = 1) async throws -> NodeStatus? {
        let result = try await workspace.cli(["status", "--json", "--target-addr", address(id)], timeout: timeout)
        guard result.status == 0 else { return nil }
        return try JSONDecoder().decode(NodeStatus.self, from: Data(result.stdout.utf8))
    }

    /// The status of every node in `ids`, nil for those that did not answer.
    func statuses(_ ids: [UInt64], timeout: Double = 1) async throws -> [UInt64: NodeStatus] {
        try await withThrowingTaskGroup(of: (UInt64, NodeStatus?).self) { group in
            for id in ids { group.addTask { (id, try await self.status(id, timeout: timeout)) } }
            var result: [UInt64: NodeStatus] = [:]
            for try await (id, status) in group { if let status { result[id] = status } }
            return result
        }
    }

    /// Waits until one node is leader and every running node answers and
    /// names it as leader in the same term; returns the leader's status.
    func waitForLeader(timeout: Duration = .seconds(30)) async throws -> NodeStatus {
        let deadline = ContinuousClock.now + timeout
        var last: [UInt64: NodeStatus] = [:]
        while ContinuousClock.now < deadline {
            let up = upNodes
            last = try await statuses(up)
            if last.count == up.count, let leader = last.values.filter({ $0.role == "leader" }).max(by: { $0.term < $1.term }),
                last.values.allSatisfy({ $0.term == leader.term && $0.leaderID == leader.nodeID })
            {
                return leader
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("no agreed leader within \(timeout); last statuses: \(last)\n\(logs())")
    }

    /// Waits until every node has applied exactly the leader's commit index
    /// (and all agree on it); returns that index.
    func waitForConvergence(timeout: Duration = .seconds(30)) async throws -> UInt64 {
        let deadline = ContinuousClock.now + timeout
        var last: [UInt64: NodeStatus] = [:]
        while ContinuousClock.now < deadline {
            last = try await statuses(nodes.map(\.id))
            if last.count == nodes.count, let leader = last.values.first(where: { $0.role == "leader" }),
                last.values.allSatisfy({ $0.appliedIndex == leader.commitIndex && $0.commitIndex == leader.commitIndex })
            {
                return leader.commitIndex
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("nodes did not converge on the leader's commit index within \(timeout); last statuses: \(last)\n\(logs())")
    }
}
