import Foundation
import MemoryBackend
import Synchronization
import Raft
import RaftRuntime
import StorageCore
import StorageFaults
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
    /// `RAFTLAB_SIM_BREAK=log-append` or `checkpoint` runs every seed against
    /// stores with that sync removed: the invariants must then fail.
    static let faults: SyncFault = switch environment["RAFTLAB_SIM_BREAK"] {
    case "log-append": .logAppend
    case "checkpoint": .checkpoint
    default: []
    }

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

/// Runs one seed; returns its statistics, or the failure with the replay
/// command (printed at once, and recorded as an issue by the caller).
func runSimulation(
    seed: UInt64, nodes: Int, backend: String = "memory", steps: Int = SimulationSettings.steps, minorityDown: Bool = false,
    faults: SyncFault = SimulationSettings.faults, quiet: Bool = false
) -> Result<SimulatedCluster.Stats, SimulationFailure> {
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
            minorityDownAtEnd: minorityDown, faults: faults)
        cluster = try SimulatedCluster(seed: seed, options: options)
        defer { cluster?.shutdown() }
        return .success(try cluster!.run())
    } catch let failure as SimulationFailure {
        if SimulationSettings.trace { print(failure.trace) }
        if !quiet { print(failure.description) }
        return .failure(failure)
    } catch {
        let failure = SimulationFailure(
            seed: seed, nodes: nodes, step: cluster?.now ?? 0, invariant: "unexpected error: \(error)",
            trace: cluster?.traceLines.suffix(400).joined(separator: "\n") ?? "")
        if SimulationSettings.trace { print(failure.trace) }
        if !quiet { print(failure.description) }
        return .failure(failure)
    }
}

/// Runs `seeds` on a dedicated thread and records every failure as an issue.
func runSeeds(_ seeds: [(seed: UInt64, nodes: Int)], backend: String = "memory", steps: Int = SimulationSettings.steps, minorityDown: Bool = false) async {
    let failures = Mutex<[SimulationFailure]>([])
    await onDedicatedThread {
        for (seed, nodes) in seeds {
            if case .failure(let failure) = runSimulation(seed: seed, nodes: nodes, backend: backend, steps: steps, minorityDown: minorityDown) {
                failures.withLock { $0.append(failure) }
            }
        }
    }
    for failure in failures.withLock({ $0 }) {
        Issue.record("\(failure.description)")
    }
}

/// Runs CPU-bound simulation work on its own thread, so that the shards do
/// not occupy Swift concurrency's cooperative pool (2 threads on 2 cores) and
/// starve tests that need timely actor scheduling, such as the runtime tests.
func onDedicatedThread(_ body: @escaping @Sendable () -> Void) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let thread = Thread {
            body()
            continuation.resume()
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

@Suite("Simulation")
struct SimulationTests {
    @Test("Simulation: 3 nodes, seeded faults (shard)", arguments: 0..<SimulationSettings.shards)
    func simulationThreeNodes(shard: Int) async {
        await runSeeds(SimulationSettings.seeds(nodes: 3, shard: shard).map { ($0, 3) })
    }

    @Test("Simulation: 5 nodes, seeded faults (shard)", arguments: 0..<SimulationSettings.shards)
    func simulationFiveNodes(shard: Int) async {
        await runSeeds(SimulationSettings.seeds(nodes: 5, shard: shard).map { ($0, 5) })
    }

    /// Liveness with only a majority: after the faults stop and partitions
    /// heal, a minority of voters stays down; a leader must still be elected
    /// and a new proposal commit within 30 election timeouts (300 ticks).
    @Test("Simulation liveness: with a majority up after healing, a leader commits a new proposal in bounded ticks", arguments: [3, 5])
    func simulationLivenessWithMajority(nodes: Int) async {
        guard SimulationSettings.replaySeed == nil else { return }
        let count = max(20, SimulationSettings.totalSeeds / 20)
        await runSeeds((0..<count).map { (900_000 + UInt64($0), nodes) }, minorityDown: true)
    }

    /// The same simulation on each disk backend, opened by name through the
    /// registry: fewer seeds, since every write reaches the file system.
    @Test("Simulation on disk backends", arguments: ["flatfile", "lmdb", "leveldb"])
    func simulationOnDisk(backend: String) async {
        guard SimulationSettings.replaySeed == nil else { return }
        let count = Int(SimulationSettings.environment["RAFTLAB_SIM_DISK_SEEDS"] ?? "") ?? 6
        await runSeeds((0..<count).map { (7_000 + UInt64($0), $0 % 2 == 0 ? 3 : 5) }, backend: backend, steps: 200)
    }

    /// The power-cut model can fail: with the log's append sync removed, or
    /// the state store's checkpoint sync, some seed must break an invariant
    /// (an acknowledged command lost, a restart made impossible...). Without
    /// this, a simulation that never cut power would pass with every fsync
    /// deleted.
    @Test("Simulation catches a removed sync", arguments: ["log-append", "checkpoint"])
    func simulationCatchesARemovedSync(fault: String) async throws {
        guard SimulationSettings.replaySeed == nil, SimulationSettings.faults.isEmpty else { return }
        let faults: SyncFault = fault == "log-append" ? .logAppend : .checkpoint
        let caught = Mutex<SimulationFailure?>(nil)
        await onDedicatedThread {
            for seed in UInt64(1)...200 {
                if case .failure(let failure) = runSimulation(seed: 500_000 + seed, nodes: 3, faults: faults, quiet: true) {
                    caught.withLock { $0 = failure }
                    return
                }
            }
        }
        let failure = try #require(caught.withLock { $0 }, "200 seeds ran clean with the \(fault) sync removed")
        print("with the \(fault) sync removed, the simulation caught: \(failure.invariant) (seed \(failure.seed))")
    }

    /// The same seed produces the same run: the harness is deterministic.
    @Test("Simulation replays a seed exactly")
    func simulationIsDeterministic() throws {
        guard SimulationSettings.replaySeed == nil else { return }
        let first = try runSimulation(seed: 42, nodes: 5).get()
        let second = try runSimulation(seed: 42, nodes: 5).get()
        #expect(first.messagesDelivered == second.messagesDelivered)
        #expect(first.acknowledged == second.acknowledged)
        #expect(first.elections == second.elections)
        #expect(first.acknowledged > 0)
    }
}
