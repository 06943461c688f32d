import Foundation
import MemoryBackend
import Synchronization
import Raft
import StorageCore
import Testing

/// Seeded simulation runs. CI runs `RAFTLAB_SIM_SEEDS` runs (default 2,000),
/// half with 3 nodes and half with 5, split into shards that Swift Testing
/// runs in parallel. A longer soak is one command:
///
///     RAFTLAB_SIM_SEEDS=100000 swift test --filter Simulation
///
/// and a failing seed replays alone, with a trace of the last events:
///
///     RAFTLAB_SIM_SEED=12345 RAFTLAB_SIM_NODES=5 RAFTLAB_SIM_TRACE=1 swift test --filter Simulation
enum SimulationSettings {
    static let environment = ProcessInfo.processInfo.environment
    static let totalSeeds = Int(environment["RAFTLAB_SIM_SEEDS"] ?? "") ?? 2_000
    static let steps = Int(environment["RAFTLAB_SIM_STEPS"] ?? "") ?? 300
    static let replaySeed = environment["RAFTLAB_SIM_SEED"].flatMap { UInt64($0) }
    static let replayNodes = environment["RAFTLAB_SIM_NODES"].flatMap { Int($0) }
    static let trace = environment["RAFTLAB_SIM_TRACE"] == "1"
    static let firstSeed = UInt64(environment["RAFTLAB_SIM_FIRST_SEED"] ?? "") ?? 1
    static let shards = 8

    /// The seeds of one shard of the runs with `nodes` nodes.
    static func seeds(nodes: Int, shard: Int) -> [UInt64] {
        if let replaySeed {
            return (replayNodes ?? nodes) == nodes && shard == 0 ? [replaySeed] : []
        }
        let perSize = totalSeeds / 2
        let base = firstSeed + (nodes == 5 ? UInt64(1) << 32 : 0)
        return (0..<perSize).filter { $0 % shards == shard }.map { base + UInt64($0) }
    }

    /// A directory no other run uses (memory stores are keyed by directory
    /// for the life of the process, so a reused name would reopen old data).
    static func directory(_ label: String, seed: UInt64) -> String {
        let run = runCounter.add(1, ordering: .relaxed).newValue
        return NSTemporaryDirectory() + "raftlab-sim-\(ProcessInfo.processInfo.processIdentifier)-\(run)-\(label)-\(seed)"
    }

    static let runCounter = Atomic<Int>(0)
}

/// Runs one seed; returns its statistics or records the failure with the
/// replay command.
@discardableResult
func runSimulation(
    seed: UInt64, nodes: Int, backend: String = "memory", steps: Int = SimulationSettings.steps, minorityDown: Bool = false
) -> SimulatedCluster.Stats? {
    let directory = SimulationSettings.directory(backend, seed: seed)
    defer {
        // Delete the run's stores: files for disk backends, the in-process
        // volumes for the memory backend (which live as long as the process).
        try? FileManager.default.removeItem(atPath: directory)
        MemoryBackend.removeAll(under: directory)
    }
    var cluster: SimulatedCluster?
    do {
        let options = SimulatedCluster.Options(
            nodes: nodes, steps: steps, backend: backend, directory: directory, trace: SimulationSettings.trace,
            minorityDownAtEnd: minorityDown)
        cluster = try SimulatedCluster(seed: seed, options: options)
        defer { cluster?.shutdown() }
        return try cluster!.run()
    } catch let failure as SimulationFailure {
        if SimulationSettings.trace { print(failure.trace) }
        print(failure.description)
        Issue.record("\(failure.description)")
    } catch {
        let failure = SimulationFailure(
            seed: seed, nodes: nodes, step: cluster?.now ?? 0, invariant: "unexpected error: \(error)",
            trace: cluster?.traceLines.suffix(400).joined(separator: "\n") ?? "")
        if SimulationSettings.trace { print(failure.trace) }
        print(failure.description)
        Issue.record("\(failure.description)")
    }
    return nil
}

@Suite("Simulation")
struct SimulationTests {
    @Test("Simulation: 3 nodes, seeded faults (shard)", arguments: 0..<SimulationSettings.shards)
    func simulationThreeNodes(shard: Int) {
        for seed in SimulationSettings.seeds(nodes: 3, shard: shard) {
            runSimulation(seed: seed, nodes: 3)
        }
    }

    @Test("Simulation: 5 nodes, seeded faults (shard)", arguments: 0..<SimulationSettings.shards)
    func simulationFiveNodes(shard: Int) {
        for seed in SimulationSettings.seeds(nodes: 5, shard: shard) {
            runSimulation(seed: seed, nodes: 5)
        }
    }

    /// Liveness with only a majority: after the faults stop and partitions
    /// heal, a minority of voters stays down; a leader must still be elected
    /// and a new proposal commit within 30 election timeouts (300 ticks).
    @Test("Simulation liveness: with a majority up after healing, a leader commits a new proposal in bounded ticks", arguments: [3, 5])
    func simulationLivenessWithMajority(nodes: Int) {
        guard SimulationSettings.replaySeed == nil else { return }
        let count = max(20, SimulationSettings.totalSeeds / 20)
        for offset in 0..<count {
            runSimulation(seed: 900_000 + UInt64(offset), nodes: nodes, minorityDown: true)
        }
    }

    /// The same simulation on each disk backend, opened by name through the
    /// registry: fewer seeds, since every write reaches the file system.
    @Test("Simulation on disk backends", arguments: ["flatfile", "lmdb", "leveldb"])
    func simulationOnDisk(backend: String) {
        guard SimulationSettings.replaySeed == nil else { return }
        let count = Int(SimulationSettings.environment["RAFTLAB_SIM_DISK_SEEDS"] ?? "") ?? 6
        for offset in 0..<count {
            runSimulation(seed: 7_000 + UInt64(offset), nodes: offset % 2 == 0 ? 3 : 5, backend: backend, steps: 200)
        }
    }

    /// The same seed produces the same run: the harness is deterministic.
    @Test("Simulation replays a seed exactly")
    func simulationIsDeterministic() throws {
        guard SimulationSettings.replaySeed == nil else { return }
        let first = runSimulation(seed: 42, nodes: 5)
        let second = runSimulation(seed: 42, nodes: 5)
        #expect(first != nil)
        #expect(first?.messagesDelivered == second?.messagesDelivered)
        #expect(first?.acknowledged == second?.acknowledged)
        #expect(first?.elections == second?.elections)
    }
}
