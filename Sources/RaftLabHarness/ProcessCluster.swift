import Foundation
import NoSQL
import RaftLabAPI
import RaftLabNode
import RaftLabReport
import RaftLabHTTPClient
import RaftLabTLS
import StorageCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A cluster with one `raftlab server --node-id N` process per node on
/// 127.0.0.1, talking Raft over TCP, driven through each node's HTTP API.
///
/// The config, with free loopback ports, is written as TOML to
/// `<data dir>/cluster.toml`; each node's output goes to
/// `<data dir>/logs/node-N.log`, whose tail is quoted when a node fails to
/// come up. Every wait is bounded, and every process is ended on every path:
/// `shutdown()` (SIGTERM, then SIGKILL after a grace period), and
/// `ChildProcesses` if the benchmark itself is interrupted. Every node is
/// also told to exit should this process vanish without stopping it
/// (`RAFTLAB_PARENT_PID`). `raftlab chaos` drives the same clusters.
public final class ProcessCluster: Sendable {
    public let config: ClusterConfig
    public let configPath: String
    public let executable: String
    public let logDirectory: String
    /// Passed to every `raftlab server` after the node's own arguments.
    private let extraArguments: [String]
    /// Speaks HTTPS, trusting the cluster's CA, when the config has `[tls]`.
    private let client: SimpleHTTPClient
    /// Guards the table of running processes. `Process` is only touched
    /// through this lock or after being taken out of it.
    private let processes = Mutex<[UInt64: Process]>([:])

    /// How long a node may take from spawn to answering `GET /status`.
    static let startTimeout: Duration = .seconds(60)
    /// How long a SIGTERMed node may take to close its stores before SIGKILL.
    static let stopGrace: Duration = .seconds(15)

    /// The nodes a new cluster starts with as voters; the others join.
    let voters: [UInt64]

    private init(
        config: ClusterConfig, executable: String, voters: [UInt64], restartKeepsData: Bool, extraArguments: [String]
    ) throws {
        if let tls = config.tls, tls.https {
            do {
                client = SimpleHTTPClient(userAgent: "raftlab-bench", tlsContext: try TLSContexts.httpsClient(caFile: tls.caFile))
            } catch {
                throw BenchError.failed("cannot set up HTTPS to the nodes: \(error)")
            }
        } else {
            client = SimpleHTTPClient(userAgent: "raftlab-bench")
        }
        self.voters = voters
        self.restartKeepsData = restartKeepsData
        self.extraArguments = extraArguments
        self.config = config
        self.executable = executable
        configPath = config.storage.dataDirectory + "/cluster.toml"
        logDirectory = config.storage.dataDirectory + "/logs"
    }

    /// Gives every node of `config` free loopback ports, writes the config
    /// to the data directory and starts every node; returns once each
    /// answers `GET /status`. The first `voters` nodes (all when nil) start
    /// as the cluster's voters, the others join later. `extraArguments` go to
    /// every node's `raftlab server`.
    public static func launch(
        config base: ClusterConfig, voters: Int? = nil, executable: String, registry: BackendRegistry,
        extraArguments: [String] = []
    ) async throws -> ProcessCluster {
        var config = base
        let ports = try FreePorts.pick(config.nodes.count * 2)
        for i in config.nodes.indices {
            config.nodes[i].raftAddress = HostPort(host: "127.0.0.1", port: ports[2 * i])
            config.nodes[i].httpAddress = HostPort(host: "127.0.0.1", port: ports[2 * i + 1])
        }
        try config.validate(registry: registry)
        let cluster = try ProcessCluster(
            config: config, executable: executable,
            voters: Array(config.nodes.prefix(voters ?? config.nodes.count).map(\.id)),
            restartKeepsData: try registry.backend(named: config.storage.log).isPersistent, extraArguments: extraArguments)
        try FileSystem.createDirectory(config.storage.dataDirectory, sync: false)
        try FileSystem.createDirectory(cluster.logDirectory, sync: false)
        guard FileManager.default.createFile(atPath: cluster.configPath, contents: Data(config.renderTOML().utf8)) else {
            throw BenchError.failed("cannot write the cluster config \(cluster.configPath)")
        }
        do {
            for id in cluster.voters { try await cluster.start(id) }
        } catch {
            await cluster.shutdown()
            throw error
        }
        return cluster
    }

    /// The raftlab binary to spawn: this process's own executable.
    public static func ownExecutable() -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        let argument = CommandLine.arguments[0]
        if argument.hasPrefix("/") { return argument }
        return FileManager.default.currentDirectoryPath + "/" + argument
    }

    // MARK: Nodes (RaftLabBench adds its BenchCluster conformance over these)

    /// Nodes running now, by id, driven through their HTTP APIs.
    public var httpNodes: [HTTPBenchNode] {
        runningIDs.compactMap { httpNode($0) }
    }

    public func httpNode(_ id: UInt64) -> HTTPBenchNode? {
        guard runningIDs.contains(id), let node = config.nodes.first(where: { $0.id == id }) else { return nil }
        return HTTPBenchNode(id: id, address: node.httpAddress, client: client)
    }

    private var runningIDs: [UInt64] {
        processes.withLock { table in table.filter { $0.value.isRunning }.keys.sorted() }
    }

    /// The running node that leads in the highest term, once one does.
    public func leaderNode(within timeout: Duration) async throws -> HTTPBenchNode {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            // Ask every running node at once, each with a short time limit, so
            // a node that hangs or has just been killed delays no one.
            let probes = runningIDs.compactMap { id in
                config.nodes.first { $0.id == id }.map {
                    HTTPBenchNode(id: id, address: $0.httpAddress, client: client, timeout: .seconds(2))
                }
            }
            let statuses = await withTaskGroup(of: NodeStatus?.self) { group in
                for probe in probes { group.addTask { try? await probe.status() } }
                var statuses: [NodeStatus] = []
                for await status in group { if let status { statuses.append(status) } }
                return statuses
            }
            if let best = statuses.filter({ $0.role == "leader" }).max(by: { $0.term < $1.term }),
                let leader = httpNode(best.nodeID)
            {
                return leader
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw NodeError.noLeader
    }

    public func stop(_ id: UInt64) async throws {
        guard let process = take(id) else { return }
        process.terminate()
        if await !waitForExit(process, within: Self.stopGrace) {
            kill(process.processIdentifier, SIGKILL)
            _ = await waitForExit(process, within: .seconds(10))
        }
        ChildProcesses.shared.unregister(process.processIdentifier)
    }

    public func crash(_ id: UInt64) async throws {
        guard let process = take(id) else { return }
        kill(process.processIdentifier, SIGKILL)
        let ended = await waitForExit(process, within: .seconds(10))
        ChildProcesses.shared.unregister(process.processIdentifier)
        guard ended else { throw BenchError.failed("node \(id) (pid \(process.processIdentifier)) survived SIGKILL for 10 s") }
    }

    public func start(_ id: UInt64) async throws {
        try await start(id, joining: false)
    }

    public func startJoining(_ id: UInt64) async throws {
        try await start(id, joining: true)
    }

    public func addLearner(_ id: UInt64) async throws {
        try await admin(leader: try await leaderNode(within: Self.leaderWait), method: "POST", path: "/admin/learners/\(id)")
    }

    public func removeNode(_ id: UInt64) async throws {
        try await admin(leader: try await leaderNode(within: Self.leaderWait), method: "DELETE", path: "/admin/members/\(id)")
    }

    /// How long a membership change waits for a leader (as `BenchCluster.leader()` does).
    static let leaderWait: Duration = .seconds(60)

    private func admin(leader: HTTPBenchNode, method: String, path: String) async throws {
        guard let node = config.nodes.first(where: { $0.id == leader.id }) else { throw NodeError.noLeader }
        let response = try await client.execute(SimpleHTTPRequest(method: method, path: path), to: node.httpAddress, timeout: .seconds(15))
        guard response.status == 200 else { throw HTTPBenchNode.error(for: response, node: leader.id) }
    }

    private func start(_ id: UInt64, joining: Bool) async throws {
        if let existing = processes.withLock({ $0[id] }) {
            guard !existing.isRunning else { return }
            // It died on its own: forget it and start a new one.
            _ = take(id)
            ChildProcesses.shared.unregister(existing.processIdentifier)
        }
        let node = try config.node(id)
        let logPath = "\(logDirectory)/node-\(id).log"
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        guard let log = FileHandle(forWritingAtPath: logPath) else {
            throw BenchError.failed("cannot open \(logPath) for node \(id)'s output")
        }
        log.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        var arguments = ["server", "--node-id", String(id), "--config", configPath, "--log-level", "warning"]
        if joining {
            // Any running member tells a joiner the cluster's ID and where its members listen.
            guard let member = runningIDs.first(where: { $0 != id }), let address = try? config.node(member).httpAddress else {
                throw BenchError.failed("node \(id) cannot join: no member of the cluster is running")
            }
            arguments += ["--join", address.description]
        } else if voters.count != config.nodes.count {
            arguments += ["--voters", voters.map(String.init).joined(separator: ",")]
        }
        process.arguments = arguments + extraArguments
        var environment = ProcessInfo.processInfo.environment
        environment["RAFTLAB_PARENT_PID"] = String(getpid())
        process.environment = environment
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            try? log.close()
            throw BenchError.failed("cannot start \(executable) for node \(id): \(error)")
        }
        try? log.close()
        ChildProcesses.shared.register(process.processIdentifier)
        processes.withLock { $0[id] = process }

        // Up once its HTTP API answers; its stores are open by then.
        let probe = HTTPBenchNode(id: id, address: node.httpAddress, client: client, timeout: .seconds(2))
        let deadline = ContinuousClock.now + Self.startTimeout
        while true {
            if !process.isRunning {
                _ = take(id)
                ChildProcesses.shared.unregister(process.processIdentifier)
                throw BenchError.failed(
                    "node \(id) exited with status \(process.terminationStatus) while starting; its log ends:\n\(logTail(logPath))")
            }
            if (try? await probe.status()) != nil { return }
            guard ContinuousClock.now < deadline else {
                try? await stop(id)
                throw BenchError.failed(
                    "node \(id) did not answer GET /status within \(Self.startTimeout); its log ends:\n\(logTail(logPath))")
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    public func shutdown() async {
        let ids = processes.withLock { Array($0.keys) }
        await withTaskGroup(of: Void.self) { group in
            for id in ids { group.addTask { try? await self.stop(id) } }
        }
    }

    /// A memory log dies with its node process (a memory state store does
    /// too, but a node with a disk log gets its state back from a snapshot).
    public let restartKeepsData: Bool

    /// Bytes the node processes have written to disk (/proc/<pid>/io), or nil where that cannot be read.
    public func bytesWritten() -> UInt64? {
        let pids = processes.withLock { $0.values.map(\.processIdentifier) }
        var total: UInt64 = 0
        for pid in pids {
            guard let bytes = try? ProcessIO.writeBytes(pid: pid) else { return nil }
            total += bytes
        }
        return total
    }

    /// The directory of each node's stores.
    public var dataDirectories: [String] {
        config.nodes.map { config.storage.storageConfig(forNode: $0.id).dataDirectory }
    }

    public var failureReport: String? {
        let dead = processes.withLock { table in
            table.filter { !$0.value.isRunning }.map { (id: $0.key, status: $0.value.terminationStatus) }
        }
        guard !dead.isEmpty else { return nil }
        return dead.sorted { $0.id < $1.id }.map { node in
            "node \(node.id) exited with status \(node.status); its log ends:\n\(logTail("\(logDirectory)/node-\(node.id).log"))"
        }.joined(separator: "\n")
    }

    // MARK: Signals

    /// Whether node `id` has a process that is running (a stopped one counts).
    public func isRunning(_ id: UInt64) -> Bool {
        processes.withLock { $0[id]?.isRunning ?? false }
    }

    /// Sends `signal` (SIGSTOP, SIGCONT...) to node `id`'s process; false if it has none.
    @discardableResult
    public func send(signal number: Int32, to id: UInt64) -> Bool {
        guard let process = processes.withLock({ $0[id] }), process.isRunning else { return false }
        return kill(process.processIdentifier, number) == 0
    }

    // MARK: Internals

    private func take(_ id: UInt64) -> Process? {
        processes.withLock { $0.removeValue(forKey: id) }
    }

    /// Polls until `process` has exited (and been reaped); false after `limit`.
    private func waitForExit(_ process: Process, within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while process.isRunning {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return true
    }

    private func logTail(_ path: String, lines: Int = 20) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "(no output)" }
        let tail = text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
        return tail.isEmpty ? "(no output)" : tail
    }
}
