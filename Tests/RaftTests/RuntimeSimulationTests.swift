import Foundation
import Raft
import RaftRuntime
import StorageCore
import StorageFaults
import Synchronization
import Testing

/// Seeded runs of the runtime itself: three `RaftNode`s (their loops, apply
/// stages, waiters, read contexts, snapshot streaming, unknown outcomes) on an
/// in-process network that drops messages and partitions nodes, with power
/// cuts and restarts, and a clock the test drives by hand. The seed picks
/// every fault and every client action; thread scheduling still varies, so a
/// failing seed is a strong lead rather than an exact replay (the core's own
/// simulation replays exactly).
///
/// Checked: every acknowledged write is applied on every node at the end;
/// a write that failed with an error promising nothing reached the log
/// (not leader, stopped before proposing, dropped by another leader) is never
/// applied anywhere; a linearizable read returns an index covering every
/// write acknowledged before it began; the nodes converge on one state.
@Suite("Runtime simulation", .serialized)
struct RuntimeSimulationTests {
    static let seeds = Int(ProcessInfo.processInfo.environment["RAFTLAB_RUNTIME_SIM_SEEDS"] ?? "") ?? 8

    @Test("seeded faults against real RaftNodes", arguments: 0..<RuntimeSimulationTests.seeds)
    func run(seed: Int) async throws {
        var harness = try RuntimeHarness(seed: UInt64(seed) &+ 77)
        try await harness.run(steps: 250)
    }
}

/// Everything a client saw, in the order it saw it.
private final class ClientRecord: @unchecked Sendable {
    private let lock = Mutex(())
    private var _acknowledged: [String: UInt64] = [:]
    private var _refused: Set<String> = []
    private var _highestAcked: UInt64 = 0
    private var _violations: [String] = []

    func violation(_ what: String) { lock.withLock { _ in _violations.append(what) } }
    var violations: [String] { lock.withLock { _ in _violations } }

    func acknowledged(_ key: String, at index: UInt64) {
        lock.withLock { _ in
            _acknowledged[key] = index
            _highestAcked = max(_highestAcked, index)
        }
    }

    func refused(_ key: String) { lock.withLock { _ in _ = _refused.insert(key) } }

    var acknowledged: [String: UInt64] { lock.withLock { _ in _acknowledged } }
    var refused: Set<String> { lock.withLock { _ in _refused } }
    var highestAcked: UInt64 { lock.withLock { _ in _highestAcked } }
}

private struct RuntimeHarness {
    let seed: UInt64
    var rng: SplitMix64
    let cluster: InProcessCluster
    let record = ClientRecord()
    var nextCommand = 0
    var tasks: [Task<Void, Never>] = []

    init(seed: UInt64) throws {
        self.seed = seed
        rng = SplitMix64(seed: seed)
        cluster = InProcessCluster(size: 3, powerCuts: [])
        cluster.options.manualTicks = true
        cluster.options.snapshotThreshold = 20
        cluster.options.snapshotCatchUpEntries = 2
        cluster.options.maxSnapshotChunkBytes = 48
        cluster.options.operationTimeout = .seconds(3)
        cluster.options.snapshotTransferTimeout = .milliseconds(500)
    }

    mutating func chance(_ p: Double) -> Bool { Double(rng.next() >> 11) / Double(1 << 53) < p }

    func failure(_ what: String) -> String { "runtime simulation seed \(seed): \(what)" }

    mutating func run(steps: Int) async throws {
        try await cluster.startAll()
        let ids: [NodeID] = [1, 2, 3]
        let dropRate = Double(rng.next() % 10) / 100
        let filterRNG = Mutex(SplitMix64(seed: rng.next()))
        cluster.network.setFilter { _ in
            filterRNG.withLock { Double($0.next() >> 11) / Double(1 << 53) } >= dropRate
        }
        var down: Set<NodeID> = []
        for _ in 0..<steps {
            for id in ids where !down.contains(id) { cluster.nodes[id]?.tick() }
            // Client actions.
            if chance(0.6) { propose() }
            if chance(0.15) { read() }
            // Faults: at most one node down or cut off at a time.
            if down.isEmpty, chance(0.03), var victim = ids.randomElement(using: &rng) {
                // Half the time the leader, with its proposals in flight.
                if chance(0.5) {
                    for id in ids where await cluster.nodes[id]?.status.role == .leader { victim = id }
                }
                if chance(0.5) {
                    try await cluster.powerCut(victim)
                } else {
                    await cluster.stop(victim)
                }
                down.insert(victim)
            } else if let victim = down.first, chance(0.1) {
                try await cluster.start(victim)
                down.remove(victim)
            }
            if chance(0.01), let victim = ids.randomElement(using: &rng) {
                cluster.network.isolate(victim)
            } else if chance(0.05) {
                cluster.network.partition([])
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        // Heal: everything up, the network whole, the clock running until the
        // clients' operations settled and every node applied everything.
        cluster.network.heal()
        for id in down { try await cluster.start(id) }
        // The clock keeps going while the clients' operations settle: an
        // operation that cannot complete times out by ticks.
        let pending = Task { [tasks] in for task in tasks { await task.value } }
        let settled = Mutex(false)
        let watcher = Task { await pending.value; settled.withLock { $0 = true } }
        let settleDeadline = ContinuousClock.now + .seconds(60)
        while !settled.withLock({ $0 }), ContinuousClock.now < settleDeadline {
            for id in ids { cluster.nodes[id]?.tick() }
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(settled.withLock { $0 }, "\(failure("client operations did not settle within 60 s"))")
        watcher.cancel()
        let target = record.highestAcked
        let deadline = ContinuousClock.now + .seconds(30)
        var applied: [NodeID: UInt64] = [:]
        while ContinuousClock.now < deadline {
            for id in ids { cluster.nodes[id]?.tick() }
            for id in ids { applied[id] = await cluster.nodes[id]?.status.appliedIndex ?? 0 }
            let commits = await ids.asyncMap { await cluster.nodes[$0]?.status.commitIndex ?? 0 }
            if applied.values.allSatisfy({ $0 >= target }), Set(applied.values).count == 1, commits.allSatisfy({ $0 == applied[1] }) {
                break
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(applied.values.allSatisfy { $0 >= target }, "\(failure("nodes did not apply every acknowledged write")): \(applied) < \(target)")
        for (key, index) in record.acknowledged {
            for id in ids {
                #expect(try cluster.value(key, on: id) == key, "\(failure("acknowledged \(key) at \(index) is missing on node \(id)"))")
            }
        }
        for key in record.refused {
            for id in ids {
                #expect(try cluster.value(key, on: id) == nil, "\(failure("\(key) was refused as never proposed, yet node \(id) applied it"))")
            }
        }
        for violation in record.violations { Issue.record("\(failure(violation))") }
        let states = try ids.map { id in try cluster.stores[id]!.state.scan(.all) }
        #expect(states.allSatisfy { $0 == states[0] }, "\(failure("the nodes' states differ after healing"))")
        await cluster.stopAll()
    }

    /// A proposal on a random node (usually not the leader): its outcome is
    /// recorded when it comes back.
    mutating func propose() {
        nextCommand += 1
        let key = "w\(nextCommand)"
        guard let node = cluster.nodes.values.sorted(by: { $0.id < $1.id }).randomElement(using: &rng) else { return }
        let record = self.record
        tasks.append(Task {
            do {
                let result = try await node.propose(Array("\(key)=\(key)".utf8))
                record.acknowledged(key, at: result.index)
            } catch let error as RaftError {
                switch error {
                case .notLeader, .stopped, .proposalDropped, .transferInProgress: record.refused(key)
                default: break  // the outcome is unknown: it may or may not apply
                }
            } catch {}
        })
    }

    /// A linearizable read: its index must cover every write acknowledged
    /// before it was asked for.
    mutating func read() {
        guard let node = cluster.nodes.values.sorted(by: { $0.id < $1.id }).randomElement(using: &rng) else { return }
        let before = record.highestAcked
        let record = self.record
        tasks.append(Task {
            guard let index = try? await node.readIndex() else { return }
            if index < before {
                record.violation("a read on node \(node.id) returned index \(index), before the write acknowledged at \(before)")
            }
        })
    }
}

extension Array {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
