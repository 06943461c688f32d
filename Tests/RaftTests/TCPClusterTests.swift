import Foundation
import Logging
import Raft
import RaftRuntime
import RaftLabBackends
import RaftTCPTransport
import StorageCore
import Testing

/// Three `RaftNode`s in this process, each on its own `TCPTransport` on a
/// loopback port, with stores opened by backend name through the registry.
///
/// A node is stopped the way a process ends: its `RaftNode` stops (which shuts
/// its transport down) and its stores close. It restarts with stores opened
/// again from the same directories and a new transport on the same port, so
/// its peers reconnect to it at the address they know.
final class TCPCluster: @unchecked Sendable {
    let backend: String
    let root: String
    let bootstrap: ClusterConfiguration
    let addresses: [NodeID: PeerAddress]
    private(set) var nodes: [NodeID: RaftNode] = [:]
    private(set) var stores: [NodeID: (log: any LogStore, state: any StateStore)] = [:]

    let options: RaftNodeOptions = {
        var options = RaftNodeOptions()
        options.tickInterval = .milliseconds(10)
        // 150–300 ms without a leader before campaigning: comfortably above a
        // loopback round trip plus an fsync, so the cluster does not churn
        // while 50 proposals per group are in flight.
        options.electionTicks = 15
        options.heartbeatTicks = 1
        options.operationTimeout = .seconds(10)
        return options
    }()

    init(backend: String, size: Int = 3) throws {
        self.backend = backend
        root = FileManager.default.temporaryDirectory
            .appendingPathComponent("raftlab-tcp-cluster-\(backend)-\(UUID().uuidString)").path
        bootstrap = ClusterConfiguration(voters: Set((1...NodeID(size)).map { $0 }))
        var addresses: [NodeID: PeerAddress] = [:]
        for id in bootstrap.voters {
            var port = try pickFreePort()
            // Three independent picks can collide in principle; pick again.
            while addresses.values.contains(where: { $0.port == port }) { port = try pickFreePort() }
            addresses[id] = PeerAddress(host: loopback, port: port)
        }
        self.addresses = addresses
    }

    var ids: [NodeID] { bootstrap.voters.sorted() }

    /// Opens the node's stores (again, after a stop) and starts it on its port.
    func start(_ id: NodeID) async throws {
        let storage = StorageConfig(backend: backend, dataDirectory: "\(root)/node\(id)", sync: true)
        let (log, state) = try BackendRegistry.standard.openStores(storage)
        var logger = Logger(label: "raftlab.test.tcp.node\(id)")
        logger.logLevel = .warning
        let transport = TCPTransport(
            nodeID: id, listenAddress: addresses[id]!, peers: addresses.filter { $0.key != id }, logger: logger)
        var nodeOptions = options
        nodeOptions.randomSeed = id &* 7919
        do {
            let node = try RaftNode(
                id: id, configuration: bootstrap, logStore: log, stateStore: state,
                stateMachine: KeyValueMachine(), transport: transport, options: nodeOptions, logger: logger)
            nodes[id] = node
            stores[id] = (log, state)
            try await node.start()
        } catch {
            await transport.shutdown()
            await nodes[id]?.stop()
            nodes[id] = nil
            stores[id] = nil
            try? log.close()
            try? state.close()
            throw error
        }
    }

    func startAll() async throws {
        for id in ids { try await start(id) }
    }

    /// Stops the node and closes its stores; its data stays for a restart.
    func stop(_ id: NodeID) async {
        await nodes[id]?.stop()
        try? stores[id]?.log.close()
        try? stores[id]?.state.close()
        nodes[id] = nil
        stores[id] = nil
    }

    /// Stops every node and deletes every store (files, and the memory
    /// backend's in-process volumes).
    func destroy() async {
        for id in nodes.keys.sorted() { await stop(id) }
        (try? BackendRegistry.standard.backend(named: backend))?.forgetVolatileData(under: root)
        try? FileManager.default.removeItem(atPath: root)
    }

    /// The running node that leads in the highest term, once one does.
    func leader(timeout: Duration = .seconds(15)) async throws -> RaftNode {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var best: (node: RaftNode, term: UInt64)?
            for id in nodes.keys.sorted() {
                guard let node = nodes[id] else { continue }
                let status = await node.status
                if status.role == .leader, status.isRunning, status.term > (best?.term ?? 0) {
                    best = (node, status.term)
                }
            }
            if let best { return best.node }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw RaftError.timeout
    }

    /// Proposes on whichever node leads, retrying (within `timeout`) while
    /// leadership moves. Commands write distinct keys, so a retry of a
    /// proposal whose outcome was unknown (a timeout) cannot change the result.
    func propose(_ command: String, timeout: Duration = .seconds(30)) async throws -> ProposalResult {
        let deadline = ContinuousClock.now + timeout
        while true {
            let leader = try await leader()
            do {
                return try await leader.propose(Array(command.utf8))
            } catch RaftError.notLeader, RaftError.proposalDropped, RaftError.transferInProgress,
                RaftError.timeout, RaftError.stopped
            {
                guard ContinuousClock.now < deadline else { throw RaftError.timeout }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Proposes `commands` with `window` of them in flight at a time; returns
    /// the highest committed index.
    func proposeAll(_ commands: [String], window: Int = 50) async throws -> UInt64 {
        var highest: UInt64 = 0
        for start in stride(from: 0, to: commands.count, by: window) {
            let group = commands[start..<min(start + window, commands.count)]
            let indexes = try await withThrowingTaskGroup(of: UInt64.self) { tasks in
                for command in group {
                    tasks.addTask { try await self.propose(command).index }
                }
                var indexes: [UInt64] = []
                for try await index in tasks { indexes.append(index) }
                return indexes
            }
            highest = max(highest, indexes.max() ?? 0)
        }
        return highest
    }

    func status(_ id: NodeID) async -> RaftStatus? {
        await nodes[id]?.status
    }

    /// Waits until every node in `ids` has applied at least `index`.
    func waitApplied(_ index: UInt64, on ids: [NodeID], timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        for id in ids {
            while (await nodes[id]?.status.appliedIndex ?? 0) < index {
                guard ContinuousClock.now < deadline else {
                    let applied = await nodes[id]?.status.appliedIndex ?? 0
                    Issue.record("node \(id) applied \(applied), not \(index), within \(timeout)")
                    throw RaftError.timeout
                }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    /// Every `k…` key and its value in the node's state store.
    func contents(of id: NodeID) throws -> [String: String] {
        guard let state = stores[id]?.state else { return [:] }
        var contents: [String: String] = [:]
        for pair in try state.scan(prefix: Array("k".utf8)) {
            contents[String(decoding: pair.key, as: UTF8.self)] = String(decoding: pair.value, as: UTF8.self)
        }
        return contents
    }
}

/// `k<i>=v<i>` for every i in `range`, and the state they leave.
private func commands(_ range: Range<Int>) -> (commands: [String], state: [String: String]) {
    var state: [String: String] = [:]
    for i in range { state["k\(i)"] = "v\(i)" }
    return (range.map { "k\($0)=v\($0)" }, state)
}

@Suite("Raft over TCP: a 3-node cluster on 127.0.0.1", .serialized)
struct TCPClusterTests {
    @Test(
        "TCP cluster: elect, replicate 1,000 commands, fail over, restarted old leader catches up",
        .timeLimit(.minutes(3)),
        arguments: ["memory", "lmdb"])
    func failoverAndCatchUp(backend: String) async throws {
        let cluster = try TCPCluster(backend: backend)
        do {
            try await scenario(cluster)
        } catch {
            await cluster.destroy()
            throw error
        }
        await cluster.destroy()
    }

    private func scenario(_ cluster: TCPCluster) async throws {
        let clock = ContinuousClock()
        let began = clock.now
        try await cluster.startAll()

        // 1. A leader is elected over TCP and every node agrees on it.
        let leader = try await cluster.leader()
        let leaderID = leader.id
        let elected = clock.now
        let term = await leader.status.term
        for id in cluster.ids {
            let deadline = clock.now + .seconds(30)
            while await cluster.status(id)?.leader != leaderID, clock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(await cluster.status(id)?.leader == leaderID, "node \(id) follows the leader")
        }

        // 2. 1,000 commands, 50 in flight at a time; all three apply them alike.
        let first = commands(0..<1_000)
        let firstIndex = try await cluster.proposeAll(first.commands)
        #expect(firstIndex >= 1_000)
        try await cluster.waitApplied(firstIndex, on: cluster.ids)
        for id in cluster.ids {
            #expect(try cluster.contents(of: id) == first.state, "node \(id) applied the 1,000 commands")
        }
        let replicated = clock.now
        if await leader.status.term != term {
            // Not a failure (Raft allows it), but worth knowing if it happens.
            print("TCP cluster (\(cluster.backend)): leadership changed during the 1,000 writes")
        }

        // 3. The leader stops; the other two elect a new leader and keep committing.
        let oldLeaderID = try await cluster.leader().id
        await cluster.stop(oldLeaderID)
        let survivors = cluster.ids.filter { $0 != oldLeaderID }
        let newLeader = try await cluster.leader()
        #expect(newLeader.id != oldLeaderID)
        #expect(await newLeader.status.term > term)
        let second = commands(1_000..<1_100)
        let secondIndex = try await cluster.proposeAll(second.commands)
        #expect(secondIndex > firstIndex)
        try await cluster.waitApplied(secondIndex, on: survivors)
        let expected = first.state.merging(second.state) { $1 }
        for id in survivors {
            #expect(try cluster.contents(of: id) == expected, "node \(id) applied all 1,100 commands")
        }
        let failedOver = clock.now

        // 4. The old leader restarts from its stores on the same port and
        //    catches up with what was committed while it was down.
        try await cluster.start(oldLeaderID)
        let target = try #require(await cluster.status(newLeader.id)).commitIndex
        try await cluster.waitApplied(target, on: [oldLeaderID])
        #expect(try cluster.contents(of: oldLeaderID) == expected, "the restarted old leader caught up")
        let restarted = try #require(await cluster.status(oldLeaderID))
        #expect(restarted.role == .follower)
        #expect(restarted.appliedIndex >= secondIndex)

        // 5. The whole cluster keeps going: one more write reaches all three.
        let last = try await cluster.propose("k-final=done")
        try await cluster.waitApplied(last.index, on: cluster.ids)
        for id in cluster.ids {
            #expect(try cluster.stores[id]?.state.get(Array("k-final".utf8)) == Array("done".utf8))
        }
        let caughtUp = clock.now
        print("""
            TCP cluster (\(cluster.backend)): elected in \(elected - began), \
            1,000 commands replicated in \(replicated - elected), \
            failover + 100 commands in \(failedOver - replicated), \
            restart and catch-up in \(caughtUp - failedOver)
            """)
    }
}
