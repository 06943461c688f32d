import Foundation
import RaftLabAPI
import RaftLabHarness
import RaftLabNode
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One fault as it happened: what, to whom, and when (seconds since the run started).
public struct FaultRecord: Sendable, Hashable {
    public var kind: FaultKind
    /// For partitions, the shape.
    public var shape: PartitionShape?
    /// The node the fault is about: the one killed or paused, the isolated
    /// leader, the bridge, the one-way sender, the first of the minority.
    public var node: UInt64
    /// Every node on the fault's side (the minority, the isolated node...).
    public var nodes: [UInt64]
    /// Whether `node` led when the fault began.
    public var wasLeader: Bool
    public var detail: String
    public var start: Double
    /// When the fault was undone (restart, SIGCONT, heal); nil if the run ended first.
    public var end: Double?
    /// When every node had caught up with the leader again after it.
    public var recovered: Double?
}

/// Injects faults into a running `ProcessCluster`, one at a time: calm for
/// `interval` seconds, a fault held for `interval` seconds, undone, then a
/// wait until every node has caught up with the leader before the next
/// calm. One fault at a time keeps a quorum of intact nodes: with the memory
/// backend a killed node comes back empty, and a second fault before it has
/// caught up could take away the only copies of committed entries, which no
/// Raft implementation survives.
final class Nemesis: Sendable {
    let cluster: ProcessCluster
    let requests: NodeRequests
    let recorder: HistoryRecorder
    let leaderHint: LeaderHint
    let kinds: [FaultKind]
    let interval: Duration
    let progress: @Sendable (String) -> Void
    /// Whether a killed node loses its stores (the memory backend) and must catch up from the leader.
    let volatileStores: Bool
    private let state: Mutex<State>

    private struct State {
        var random: SeededGenerator
        var records: [FaultRecord] = []
        var killed: Set<UInt64> = []
        var paused: Set<UInt64> = []
        var partitioned = false
        var nextShape = 0
    }

    init(
        cluster: ProcessCluster, requests: NodeRequests, recorder: HistoryRecorder, leaderHint: LeaderHint,
        kinds: [FaultKind], interval: Double, seed: UInt64, volatileStores: Bool,
        progress: @escaping @Sendable (String) -> Void
    ) {
        self.volatileStores = volatileStores
        self.cluster = cluster
        self.requests = requests
        self.recorder = recorder
        self.leaderHint = leaderHint
        self.kinds = kinds
        self.interval = .milliseconds(Int(interval * 1000))
        self.progress = progress
        state = Mutex(State(random: SeededGenerator(seed: seed ^ 0x6E65_6D65_7369_73)))
    }

    var records: [FaultRecord] { state.withLock { $0.records } }

    /// Injects faults until `end`; never starts one that could not be undone by then.
    func run(until end: ContinuousClock.Instant) async {
        guard !kinds.isEmpty else { return }
        var turn = 0
        while ContinuousClock.now + interval * 2 <= end, !Task.isCancelled {
            try? await Task.sleep(for: interval)
            let kind = kinds[turn % kinds.count]
            turn += 1
            do {
                try await inject(kind)
            } catch {
                progress("nemesis: \(kind.rawValue) failed: \(error)")
                await recoverAll()
            }
        }
    }

    private func random(_ upperBound: Int) -> Int {
        state.withLock { Int($0.random.next() % UInt64(upperBound)) }
    }

    private func coin() -> Bool { random(2) == 0 }

    private func inject(_ kind: FaultKind) async throws {
        let nodes = requests.nodeIDs
        let leader = await currentLeader()
        let aimAtLeader = leader != nil && coin()
        var record: FaultRecord
        // Appended now and updated as the fault proceeds, so a fault that
        // fails half-way still shows in the report.
        let slot = state.withLock { $0.records.count }
        switch kind {
        case .kill:
            let target = aimAtLeader ? leader! : nodes[random(nodes.count)]
            record = begin(kind, node: target, nodes: [target], leader: leader, detail: "SIGKILL")
            save(record, at: slot)
            try await cluster.crash(target)
            state.withLock { _ = $0.killed.insert(target) }
            progress("nemesis: killed node \(target)\(target == leader ? " (leader)" : "")")
            try? await Task.sleep(for: interval)
            try await cluster.start(target)
            state.withLock { _ = $0.killed.remove(target) }
            record.end = seconds()
            save(record, at: slot)
            let rejoined = await waitHealthy(timeout: .seconds(60))
            if let status = await requests.status(of: target) {
                if !volatileStores {
                    record.detail += "; restarted from its data directory, log starts at \(status.firstIndex)"
                } else if status.firstIndex > 1 {
                    record.detail += "; restarted empty, caught up through the leader's snapshot (log now starts at \(status.firstIndex))"
                } else {
                    record.detail += "; restarted empty, caught up from the leader's log (not yet compacted)"
                }
            }
            record.recovered = rejoined ? seconds() : nil
            save(record, at: slot)
        case .powerCut:
            let target = aimAtLeader ? leader! : nodes[random(nodes.count)]
            let before = await requests.status(of: target)
            record = begin(kind, node: target, nodes: [target], leader: leader, detail: "power cut")
            save(record, at: slot)
            state.withLock { _ = $0.killed.insert(target) }
            try await requests.powerCut(target)
            try await cluster.crash(target)  // reaps the process that ended itself
            progress("nemesis: cut the power of node \(target)\(target == leader ? " (leader)" : "")")
            try? await Task.sleep(for: interval)
            try await cluster.start(target)
            state.withLock { _ = $0.killed.remove(target) }
            record.end = seconds()
            if let after = await requests.status(of: target), let before {
                record.detail += "; had applied \(before.appliedIndex), restarted with its log through \(after.lastIndex) and state from its last checkpoint"
            }
            save(record, at: slot)
            record.recovered = await waitHealthy(timeout: .seconds(60)) ? seconds() : nil
            save(record, at: slot)
        case .pause:
            let target = aimAtLeader ? leader! : nodes[random(nodes.count)]
            record = begin(kind, node: target, nodes: [target], leader: leader, detail: "SIGSTOP for \(interval)")
            save(record, at: slot)
            guard cluster.send(signal: SIGSTOP, to: target) else { throw ChaosError.failed("node \(target) has no process to pause") }
            state.withLock { _ = $0.paused.insert(target) }
            progress("nemesis: paused node \(target)\(target == leader ? " (leader)" : "")")
            try? await Task.sleep(for: interval)
            cluster.send(signal: SIGCONT, to: target)
            state.withLock { _ = $0.paused.remove(target) }
            record.end = seconds()
            save(record, at: slot)
            record.recovered = await waitHealthy(timeout: .seconds(60)) ? seconds() : nil
            save(record, at: slot)
        case .partition:
            let shape = state.withLock { state in
                defer { state.nextShape += 1 }
                return PartitionShape.allCases[state.nextShape % PartitionShape.allCases.count]
            }
            let plan = partition(shape, nodes: nodes, leader: leader)
            record = begin(kind, node: plan.node, nodes: plan.side, leader: leader, detail: plan.detail)
            record.shape = shape
            save(record, at: slot)
            state.withLock { $0.partitioned = true }
            for (node, rules) in plan.rules {
                try await requests.setFaults(on: node, dropOutbound: rules.outbound, dropInbound: rules.inbound)
            }
            progress("nemesis: partition \(shape.rawValue): \(plan.detail)")
            try? await Task.sleep(for: interval)
            for node in nodes { try await requests.heal(node) }
            state.withLock { $0.partitioned = false }
            record.end = seconds()
            save(record, at: slot)
            record.recovered = await waitHealthy(timeout: .seconds(60)) ? seconds() : nil
            save(record, at: slot)
        }
    }

    private func save(_ record: FaultRecord, at slot: Int) {
        state.withLock { state in
            if slot < state.records.count { state.records[slot] = record } else { state.records.append(record) }
        }
    }

    private func begin(_ kind: FaultKind, node: UInt64, nodes: [UInt64], leader: UInt64?, detail: String) -> FaultRecord {
        FaultRecord(
            kind: kind, shape: nil, node: node, nodes: nodes, wasLeader: node == leader, detail: detail, start: seconds(),
            end: nil, recovered: nil)
    }

    struct PartitionPlan {
        var node: UInt64
        var side: [UInt64]
        var detail: String
        var rules: [UInt64: (outbound: Set<UInt64>, inbound: Set<UInt64>)]
    }

    /// Which messages each node drops for `shape`.
    func partition(_ shape: PartitionShape, nodes: [UInt64], leader: UInt64?) -> PartitionPlan {
        var shuffled = nodes
        for i in stride(from: shuffled.count - 1, to: 0, by: -1) { shuffled.swapAt(i, random(i + 1)) }
        func cut(_ groups: [[UInt64]], bridge: UInt64? = nil) -> [UInt64: (outbound: Set<UInt64>, inbound: Set<UInt64>)] {
            var rules: [UInt64: (outbound: Set<UInt64>, inbound: Set<UInt64>)] = [:]
            for node in nodes {
                guard node != bridge, let mine = groups.first(where: { $0.contains(node) }) else {
                    rules[node] = ([], [])
                    continue
                }
                let unreachable = Set(nodes).subtracting(mine).subtracting(bridge.map { [$0] } ?? [])
                rules[node] = (unreachable, unreachable)
            }
            return rules
        }
        switch shape {
        case .isolateLeader:
            let isolated = leader ?? shuffled[0]
            let rest = nodes.filter { $0 != isolated }
            return PartitionPlan(
                node: isolated, side: [isolated], detail: "node \(isolated)\(leader == isolated ? " (leader)" : "") | \(Self.list(rest))",
                rules: cut([[isolated], rest]))
        case .majorityMinority:
            let minority = Array(shuffled.prefix((nodes.count - 1) / 2)).sorted()
            let majority = nodes.filter { !minority.contains($0) }
            return PartitionPlan(
                node: minority[0], side: minority, detail: "minority \(Self.list(minority)) | majority \(Self.list(majority))",
                rules: cut([minority, majority]))
        case .bridge:
            let bridge = shuffled[0]
            let others = Array(shuffled.dropFirst())
            let left = Array(others.prefix(others.count / 2)).sorted()
            let right = Array(others.dropFirst(others.count / 2)).sorted()
            return PartitionPlan(
                node: bridge, side: [bridge],
                detail: "\(Self.list(left)) | \(Self.list(right)), node \(bridge) sees both\(bridge == leader ? " (leader)" : "")",
                rules: cut([left, right], bridge: bridge))
        case .oneWay:
            let sender = (leader != nil && coin()) ? leader! : shuffled[0]
            var rules: [UInt64: (outbound: Set<UInt64>, inbound: Set<UInt64>)] = [:]
            for node in nodes { rules[node] = node == sender ? (Set(nodes).subtracting([sender]), []) : ([], [sender]) }
            return PartitionPlan(
                node: sender, side: [sender],
                detail: "messages from node \(sender)\(sender == leader ? " (leader)" : "") to the others are lost; it still hears them",
                rules: rules)
        }
    }

    static func list(_ nodes: [UInt64]) -> String {
        "{" + nodes.map(String.init).joined(separator: ",") + "}"
    }

    private func seconds() -> Double { recorder.seconds(at: recorder.now()) }

    /// The node leading in the highest term among those that answer, if any.
    func currentLeader() async -> UInt64? {
        let statuses = await allStatuses()
        let leader = statuses.values.filter { $0.role == "leader" }.max { $0.term < $1.term }?.nodeID
        if let leader { leaderHint.set(leader) }
        return leader
    }

    func allStatuses(timeout: Duration = .seconds(2)) async -> [UInt64: NodeStatus] {
        await withTaskGroup(of: (UInt64, NodeStatus?).self) { group in
            for node in requests.nodeIDs {
                group.addTask { (node, await self.requests.status(of: node, timeout: timeout)) }
            }
            var statuses: [UInt64: NodeStatus] = [:]
            for await (node, status) in group { if let status { statuses[node] = status } }
            return statuses
        }
    }

    /// Waits until a leader leads every node and each has applied what that
    /// leader had committed when the wait began; false after `timeout`.
    func waitHealthy(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        var target: UInt64?
        while ContinuousClock.now < deadline {
            let statuses = await allStatuses()
            if statuses.count == requests.nodeIDs.count,
                let leader = statuses.values.filter({ $0.role == "leader" }).max(by: { $0.term < $1.term })
            {
                leaderHint.set(leader.nodeID)
                if target == nil { target = leader.commitIndex }
                if let target, statuses.values.allSatisfy({ $0.leaderID == leader.nodeID && $0.appliedIndex >= target }) {
                    return true
                }
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// Undoes whatever is still in force: heals every node's rules, resumes
    /// paused nodes, restarts killed ones. Safe to call at any time.
    func recoverAll() async {
        let (killed, paused) = state.withLock { state in
            defer {
                state.killed = []
                state.paused = []
                state.partitioned = false
            }
            return (state.killed, state.paused)
        }
        for node in requests.nodeIDs where cluster.isRunning(node) { cluster.send(signal: SIGCONT, to: node) }
        _ = paused
        for node in killed.sorted() {
            do { try await cluster.start(node) } catch { progress("nemesis: restarting node \(node) failed: \(error)") }
        }
        for node in requests.nodeIDs where !cluster.isRunning(node) {
            // A node that died on its own (a crash) is started again too; the report says so.
            progress("nemesis: node \(node) is not running; starting it")
            do { try await cluster.start(node) } catch { progress("nemesis: starting node \(node) failed: \(error)") }
        }
        for node in requests.nodeIDs { try? await requests.heal(node) }
        let now = seconds()
        state.withLock { state in
            for index in state.records.indices where state.records[index].end == nil { state.records[index].end = now }
        }
    }
}
