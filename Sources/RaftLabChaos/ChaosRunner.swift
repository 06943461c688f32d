import Foundation
import Linearizability
import RaftLabAPI
import RaftLabHarness
import RaftLabNode
import StorageCore

/// What the end checks found once every fault was healed.
public struct EndChecks: Sendable {
    /// Whether the cluster converged (one leader, every node applied its commit index) in time.
    public var converged = false
    public var convergenceSeconds: Double?
    /// Nodes that did not catch up (or did not answer) within the recovery time.
    public var stuckNodes: [UInt64] = []
    /// Node processes that exited without the nemesis killing them, with the end of their log.
    public var unexpectedExits: String?
    /// Acknowledged writes whose effect is missing from a node's final state.
    public var lostAcknowledgedWrites: [LostWrite] = []
    /// Each node's state digest at the common applied index (empty if they never agreed on an index).
    public var digests: [UInt64: String] = [:]
    public var digestIndex: UInt64?
    /// Whether every node's state store holds the same contents.
    public var identicalState = false
    /// Keys whose local read differs between nodes.
    public var divergentKeys: [String] = []

    public var passed: Bool {
        converged && stuckNodes.isEmpty && unexpectedExits == nil && lostAcknowledgedWrites.isEmpty && identicalState
            && divergentKeys.isEmpty
    }
}

/// An acknowledged write that a node's final state does not reflect: neither
/// its value nor the effect of any write that could have come after it.
public struct LostWrite: Sendable, Hashable {
    public var operation: Int
    public var key: String
    public var node: UInt64
    public var finalState: String
}

/// Everything a run produced, for the report.
public struct ChaosResult: Sendable {
    public var options: ChaosOptions
    public var config: ClusterConfig
    public var directory: String
    public var operations: [ChaosOperation]
    public var faults: [FaultRecord]
    public var checker: LinearizabilityChecker.Result?
    public var checkerError: String?
    public var endChecks: EndChecks
    /// When the load ended, seconds since the start.
    public var loadSeconds: Double
    public var command: String

    /// "linearizable", "not_linearizable" or "unknown", as report.json says it.
    public var verdict: LinearizabilityChecker.Verdict {
        guard let checker else { return checkerError == nil ? .unknown : .notLinearizable }
        return checker.verdict
    }

    /// Passed only if the history is linearizable and every end check holds.
    public var passed: Bool { verdict == .linearizable && endChecks.passed }
}

/// A chaos run: a cluster of node processes, clients, a nemesis, then
/// recovery, end checks, the linearizability check and the report.
public struct ChaosRunner: Sendable {
    public let options: ChaosOptions
    public let registry: BackendRegistry
    public let command: String

    public init(options: ChaosOptions, registry: BackendRegistry, command: String) {
        self.options = options
        self.registry = registry
        self.command = command
    }

    private func say(_ line: String) {
        guard options.verbose else { return }
        FileHandle.standardError.write(Data("raftlab chaos: \(line)\n".utf8))
    }

    /// The cluster config of the run: the given config's storage and engine
    /// (or the defaults with snapshots every 2,000 entries, so that restarted
    /// nodes meet compacted logs), `nodes` nodes, data under `directory`.
    func clusterConfig(directory: String) -> ClusterConfig {
        var config = options.config ?? ClusterConfig(nodes: [])
        if options.config == nil {
            config.engine.snapshotEntries = 2_000
            config.engine.snapshotKeepEntries = 500
        }
        config.clusterName = "chaos-\(options.seed)"
        config.storage.log = options.logBackend
        config.storage.state = options.stateBackend
        config.storage.dataDirectory = directory + "/cluster"
        config.nodes = (1...options.nodes).map { id in
            ClusterConfig.Node(
                id: UInt64(id), raftAddress: HostPort(host: "127.0.0.1", port: 0),
                httpAddress: HostPort(host: "127.0.0.1", port: 0))
        }
        return config
    }

    public func run() async throws -> ChaosResult {
        try options.validate(registry: registry)
        let directory = options.resolvedOutputDirectory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let dataDirectory = directory + "/cluster"
        if FileManager.default.fileExists(atPath: dataDirectory) {
            try FileManager.default.removeItem(atPath: dataDirectory)
        }
        var arguments = ["--allow-fault-injection"]
        if options.breakStrongReads { arguments.append("--unsafe-strong-reads-without-read-index") }
        if options.faults.contains(.powerCut) { arguments.append("--power-cut-model") }
        say("starting \(options.nodes) nodes (log \(options.logBackend), state \(options.stateBackend)) in \(dataDirectory)")
        let cluster = try await ProcessCluster.launch(
            config: clusterConfig(directory: directory),
            executable: options.serverExecutable ?? ProcessCluster.ownExecutable(), registry: registry,
            extraArguments: arguments)
        do {
            let result = try await drive(cluster, directory: directory)
            await cluster.shutdown()
            try finish(result)
            return result
        } catch {
            await cluster.shutdown()
            throw error
        }
    }

    private func drive(_ cluster: ProcessCluster, directory: String) async throws -> ChaosResult {
        let requests = NodeRequests(config: cluster.config, timeout: options.requestTimeout)
        let leader = LeaderHint()
        try await createTable(requests, leader: leader)

        let recorder = HistoryRecorder()
        let nemesis = Nemesis(
            cluster: cluster, requests: requests, recorder: recorder, leaderHint: leader, kinds: options.faults,
            interval: options.faultInterval, seed: options.seed,
            volatileStores: [options.logBackend, options.stateBackend].contains {
                (try? registry.backend(named: $0).isPersistent) == false
            },
            progress: { say($0) })
        let keys = (0..<options.keys).map { "k\($0)" }
        let runID = "r\(options.seed)-\(UInt32.random(in: 0...UInt32.max))"
        let budget = OperationBudget(options.maxOperations)
        let perClient = options.rate > 0 ? Double(options.clients) / options.rate : 0
        let end = ContinuousClock.now + .milliseconds(Int(options.duration * 1000))
        say("running \(options.clients) clients on \(options.keys) keys for \(options.duration) s, faults: \(options.faults.map(\.rawValue).joined(separator: ","))")

        await withTaskGroup(of: Void.self) { group in
            group.addTask { await nemesis.run(until: end) }
            for number in 1...options.clients {
                let client = ChaosClient(
                    number: number, keys: keys, requests: requests, leader: leader, recorder: recorder, runID: runID,
                    operationDeadline: options.operationDeadline, interval: perClient, budget: budget)
                group.addTask { await client.run(until: end, seed: options.seed) }
            }
            group.addTask {
                while ContinuousClock.now < end {
                    try? await Task.sleep(for: .seconds(5))
                    let operations = recorder.all
                    let ok = operations.filter { $0.outcome.type == "ok" }.count
                    say("\(Int(recorder.seconds(at: recorder.now()))) s: \(operations.count) operations, \(ok) ok")
                }
            }
        }
        let loadSeconds = recorder.seconds(at: recorder.now())

        // Recovery: whatever the nemesis left in force is undone, then the cluster must converge.
        var checks = EndChecks()
        checks.unexpectedExits = cluster.failureReport
        await nemesis.recoverAll()
        say("load done after \(String(format: "%.1f", loadSeconds)) s; healing and waiting for convergence")
        let recoveryStarted = ContinuousClock.now
        let statuses = await converge(nemesis, requests: requests, timeout: options.recoveryTimeout)
        checks.converged = statuses.converged
        checks.stuckNodes = statuses.stuck
        if checks.converged { checks.convergenceSeconds = (ContinuousClock.now - recoveryStarted).seconds }

        // Final reads: strong reads through every node join the history; local reads show each replica.
        for key in keys {
            for node in requests.nodeIDs {
                var generator = SeededGenerator(seed: node)
                let client = ChaosClient(
                    number: 1_000 + Int(node), keys: keys, requests: requests, leader: leader, recorder: recorder,
                    runID: runID, operationDeadline: options.operationDeadline, interval: 0, budget: OperationBudget(1))
                var operation = await client.performRead(key: key, on: node, random: &generator)
                operation.isFinalRead = true
                recorder.record(operation)
            }
        }
        var replicas: [UInt64: [String: RegisterResult]] = [:]
        for node in requests.nodeIDs {
            for key in keys { replicas[node, default: [:]][key] = await requests.localRead(key, on: node) }
        }
        let operations = recorder.all
        checks.lostAcknowledgedWrites = Self.lostWrites(operations, replicas: replicas)
        checks.divergentKeys = keys.filter { key in Set(requests.nodeIDs.map { replicas[$0]?[key] }).count > 1 }
        (checks.digestIndex, checks.digests) = await digests(requests)
        checks.identicalState = !checks.digests.isEmpty && Set(checks.digests.values).count == 1
            && checks.digests.count == requests.nodeIDs.count

        // The linearizability check.
        say("checking \(operations.count) operations for linearizability")
        var checkerResult: LinearizabilityChecker.Result?
        var checkerError: String?
        do {
            checkerResult = try await LinearizabilityChecker(
                timeLimit: options.checkerTimeout, shrinkLimit: min(.seconds(30), options.checkerTimeout / 2)
            ).check(operations.compactMap(\.checkerOperation))
        } catch {
            checkerError = error.description
        }
        return ChaosResult(
            options: options, config: cluster.config, directory: directory, operations: operations,
            faults: nemesis.records, checker: checkerResult, checkerError: checkerError, endChecks: checks,
            loadSeconds: loadSeconds, command: command)
    }

    /// Writes the report; removes the stores after a clean run unless asked to keep them.
    private func finish(_ result: ChaosResult) throws {
        try ChaosReport(result).write()
        if result.passed, !options.keepData {
            for node in result.config.nodes {
                try? FileManager.default.removeItem(atPath: result.config.storage.storageConfig(forNode: node.id).dataDirectory)
            }
        }
    }

    private func createTable(_ requests: NodeRequests, leader: LeaderHint) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        var target = requests.nodeIDs[0]
        while ContinuousClock.now < deadline {
            switch await requests.createTable(on: target) {
            case .done:
                leader.set(target)
                return
            case .refused(_, let hinted):
                if let hinted { target = hinted } else {
                    target = requests.nodeIDs[(requests.nodeIDs.firstIndex(of: target)! + 1) % requests.nodeIDs.count]
                    try await Task.sleep(for: .milliseconds(100))
                }
            case .unknown:
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        throw ChaosError.failed("could not create the chaos table within 30 s: no leader?")
    }

    /// Waits until every node follows one leader and has applied its commit index.
    private func converge(_ nemesis: Nemesis, requests: NodeRequests, timeout: Duration) async -> (converged: Bool, stuck: [UInt64]) {
        let deadline = ContinuousClock.now + timeout
        var last: [UInt64: NodeStatus] = [:]
        while ContinuousClock.now < deadline {
            last = await nemesis.allStatuses()
            if last.count == requests.nodeIDs.count,
                let leader = last.values.filter({ $0.role == "leader" }).max(by: { $0.term < $1.term }),
                last.values.allSatisfy({ $0.leaderID == leader.nodeID && $0.appliedIndex == leader.commitIndex })
            {
                return (true, [])
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        let leader = last.values.filter({ $0.role == "leader" }).max(by: { $0.term < $1.term })
        let stuck = requests.nodeIDs.filter { node in
            guard let status = last[node], let leader else { return true }
            return status.appliedIndex < leader.commitIndex
        }
        return (false, stuck)
    }

    /// Each node's state digest once all report the same applied index (within 30 s).
    private func digests(_ requests: NodeRequests) async -> (UInt64?, [UInt64: String]) {
        let deadline = ContinuousClock.now + .seconds(30)
        var latest: [UInt64: NodeRequests.Digest] = [:]
        while ContinuousClock.now < deadline {
            latest = [:]
            for node in requests.nodeIDs { latest[node] = await requests.stateDigest(of: node) }
            let indexes = Set(latest.values.map(\.appliedIndex))
            if latest.count == requests.nodeIDs.count, indexes.count == 1 {
                return (indexes.first, latest.mapValues(\.digest))
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return (nil, latest.mapValues { "\($0.digest) at index \($0.appliedIndex)" })
    }

    /// Acknowledged writes whose effect a replica's final state does not show.
    ///
    /// A write `w` is explained on a node if the node's final state is `w`'s
    /// own effect, or the effect of a write that may have been linearized
    /// after `w`: one that took effect (or may have: `info`) and did not
    /// complete before `w` was invoked.
    static func lostWrites(_ operations: [ChaosOperation], replicas: [UInt64: [String: RegisterResult]]) -> [LostWrite] {
        var lost: [LostWrite] = []
        let writes = operations.filter { operation in
            guard operation.call.isWrite, !operation.isFinalRead else { return false }
            switch operation.outcome {
            case .ok(.written), .ok(.deleted), .info: return true
            default: return false
            }
        }
        let byKey = Dictionary(grouping: writes, by: \.key)
        for (node, state) in replicas.sorted(by: { $0.key < $1.key }) {
            for (key, keyWrites) in byKey.sorted(by: { $0.key < $1.key }) {
                guard let final = state[key] else { continue }
                let finalValue: String? = if case .value(let value, _) = final { value } else { nil }
                for write in keyWrites where write.outcome.type == "ok" {
                    let candidates = keyWrites.filter { other in
                        other.id == write.id || other.outcome.type == "info" || other.completedAt >= write.invokedAt
                    }
                    let explained = candidates.contains { candidate in
                        if let finalValue { return candidate.call.writtenValue == finalValue }
                        return candidate.call == .delete
                    }
                    if !explained {
                        lost.append(LostWrite(
                            operation: write.id, key: key, node: node,
                            finalState: finalValue.map { "\($0)" } ?? "absent"))
                    }
                }
            }
        }
        return lost
    }
}

extension ChaosClient {
    /// One strong read of `key` on `node`, recorded like any other.
    func performRead(key: String, on node: UInt64, random: inout SeededGenerator) async -> ChaosOperation {
        let id = recorder.newID()
        let invoked = recorder.now()
        let attempt = await requests.perform(.read, key: key, on: node, idempotencyKey: "")
        var operation = ChaosOperation(
            id: id, client: number, key: key, call: .read, invokedAt: invoked, completedAt: recorder.now(),
            outcome: .fail("not attempted"), node: node, attempts: 1)
        switch attempt {
        case .done(let result): operation.outcome = .ok(result)
        case .refused(let why, _): operation.outcome = .fail(why)
        case .unknown(let why): operation.outcome = .info(why)
        }
        return operation
    }
}

extension Duration {
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}
